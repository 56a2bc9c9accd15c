"""Which API a scored request speaks, and what the scored path needs of each: its request parser, answer reader,
refusal (whole and streamed), error shape and stream gate.

The API is told by the request path (its canonical form's last segments): `.../chat/completions` chat
completions, `.../completions` legacy completions, `.../responses` the Responses API, `.../messages` the
Messages API; any other scored path of the openai protocol is read as chat completions (as before).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
from aiohttp import web

from guardrail_contract.paths import canonical_path
from guardrail_contract.sidecar_config import DEFAULT_SCORED_PATHS
from guardrail_contract.sidecar_config import Proxy as ProxyConfig
from guardrail_sidecar.apis import completions, messages, responses
from guardrail_sidecar.apis.text_gate import TextGate
from guardrail_sidecar.errors import RequestError
from guardrail_sidecar.observability import tracing
from guardrail_sidecar.scored_path import sse
from guardrail_sidecar.scored_path.detection import redact_citations
from guardrail_sidecar.scored_path.protocols import (
    ScoringRequest,
    guardrail_field,
    openai_refusal,
    parse_openai_request,
)
from guardrail_sidecar.scored_path.reporting import record
from guardrail_sidecar.scored_path.responses import Extracted
from guardrail_sidecar.scored_path.streaming import refusal_events as chat_refusal_events
from guardrail_sidecar.scoring.pipeline import Pipeline
from guardrail_sidecar.scoring.verdict import Assessment
from guardrail_sidecar.server.proxy import ReverseProxy

ApiName = Literal["chat", "completions", "responses", "messages"]
Decided = Callable[[Assessment, bool], dict[str, Any]]
Gate = Callable[[TextGate, aiohttp.ClientResponse, int, Decided], Awaitable[None]]
Refusal = Callable[[str, str, dict[str, Any], Any], dict[str, Any]]


def _openai_error(status: int, code: str, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "guardrail_error", "code": code}}


def _chat_refusal(message: str, model: str, guardrail: dict[str, Any], app: Any = None) -> dict[str, Any]:
    return openai_refusal(message, model, guardrail)


@dataclass(frozen=True)
class Api:
    """One API's shapes. `read` and `gate` are None for the chat-shaped APIs, which the sidecar's original
    reader (`responses.read_answer`) and gate (`streaming.gate_stream`) serve."""

    name: ApiName
    parse: Callable[[Any], ScoringRequest]
    refusal: Refusal
    refusal_events: Callable[[dict[str, Any]], bytes]
    error: Callable[[int, str, str], dict[str, Any]]
    read: Callable[[Any, ScoringRequest], Extracted] | None = None
    gate: Gate | None = None
    blocked: Refusal | None = None  # a blocked answer rebuilt from the app's (None: the caller's own rebuild)


CHAT = Api("chat", parse_openai_request, _chat_refusal, chat_refusal_events, _openai_error)
COMPLETIONS = Api(
    "completions",
    completions.parse_request,
    completions.refusal,
    completions.refusal_events,
    _openai_error,
    blocked=completions.refusal,
)
RESPONSES = Api(
    "responses",
    responses.parse_request,
    responses.refusal,
    responses.refusal_events,
    _openai_error,
    read=responses.read,
    gate=responses.gate_stream,
    blocked=responses.blocked_body,
)
MESSAGES = Api(
    "messages",
    messages.parse_request,
    messages.refusal,
    messages.refusal_events,
    lambda status, code, message: messages.error_body(status, code, message),
    read=messages.read,
    gate=messages.gate_stream,
    blocked=messages.blocked_body,
)


def api_of(path: str) -> Api:
    """The API a scored path speaks (by its canonical form's last segments; chat completions otherwise)."""
    canonical = canonical_path(path.split("?", 1)[0])
    if canonical.endswith("/chat/completions"):
        return CHAT
    if canonical.endswith("/completions"):
        return COMPLETIONS
    if canonical.endswith("/responses"):
        return RESPONSES
    if canonical.endswith("/messages"):
        return MESSAGES
    return CHAT


def reshape_error(api: Api, response: web.StreamResponse) -> web.StreamResponse:
    """The sidecar's own JSON error (status >= 400) in `api`'s error shape; anything else unchanged."""
    if api.name != "messages" or not isinstance(response, web.Response) or response.status < 400:
        return response
    try:
        body = json.loads(response.body) if isinstance(response.body, bytes) else None
    except ValueError:
        return response
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return response
    response.body = json.dumps(api.error(response.status, str(error.get("code", "")), error["message"])).encode()
    return response


async def gate_stream(
    proxy: ReverseProxy,
    pipeline: Pipeline,
    request: web.Request,
    response: aiohttp.ClientResponse,
    scoring_request: ScoringRequest,
    request_id: str,
    api: Api,
) -> web.StreamResponse:
    """A streamed answer of an API with its own gate (Responses, Messages): checked, rebuilt, recorded."""
    if api.gate is None:
        raise ValueError(f"the {api.name} API has no gate of its own")
    out = await sse.open_stream(request, pipeline.revision)
    gate = TextGate(pipeline, scoring_request, out, tuple(proxy.config.audit.redact_patterns))

    def decided(verdict: Assessment, stopped: bool) -> dict[str, Any]:
        record(proxy, pipeline, verdict, request_id, "stream", stopped=stopped)
        field = guardrail_field(verdict, pipeline.revision, pipeline.policy.citations)
        return redact_citations(pipeline, field)  # spec.detectors: the citations go to the client too

    try:
        await api.gate(gate, response, proxy.config.proxy.max_response_bytes, decided)
        await out.write_eof()
    except ConnectionResetError:  # the client went away: nothing more to send
        return out
    proxy.metrics.added_latency.labels(pipeline.revision).observe(gate.scoring_time, tracing.exemplar())
    return out


# Token counting under an API path returns numbers, not generated text.
_COUNTING = frozenset({"count_tokens", "input_tokens"})
_API_ENDINGS = ("/chat/completions", "/completions", "/responses", "/messages")


def _conversation_items(responses_root: str, path: str) -> bool:
    """Whether `path` lists or reads items of a conversation of the Responses API beside `responses_root`
    (`/v1/conversations/{id}/items[/{item}]`)."""
    base = responses_root.removesuffix("/responses") + "/conversations/"
    rest = path.removeprefix(base).split("/") if path.startswith(base) else []
    return len(rest) >= 2 and rest[1] == "items"


def conversation_items(proxy: ProxyConfig, method: str, target: str) -> bool | None:
    """Whether `target` adds client items to a conversation beside a scored Responses path: True for `POST
    /v1/conversations/{id}/items` (items required), False for `POST /v1/conversations` (items optional), None for
    anything else."""
    if proxy.protocol != "openai" or method.upper() != "POST":
        return None
    path = canonical_path(target)
    for base in proxy.scored_paths or DEFAULT_SCORED_PATHS:
        root = canonical_path(base)
        if not root.endswith("/responses"):
            continue
        conversations = root.removesuffix("/responses") + "/conversations"
        if path == conversations:
            return False
        rest = path.removeprefix(conversations + "/").split("/") if path.startswith(conversations + "/") else []
        if len(rest) == 2 and rest[1] == "items":
            return True
    return None


def unchecked_retrieval(proxy: ProxyConfig, method: str, target: str) -> tuple[RequestError, Api] | None:
    """A 403 for a request under one of the APIs' scored paths (`GET /v1/responses/{id}`, `POST
    /v1/responses/{id}/cancel`, `GET /v1/chat/completions/{id}/messages`, `/v1/messages/batches/...`): those hand
    out answers generated earlier or elsewhere (stored, cancelled, batched), which the sidecar would not check
    (an answer it blocked is still stored in full by the app); so does `GET /v1/conversations/{id}/items` beside
    a scored Responses path (a conversation stores every answer, blocked ones included). DELETE, OPTIONS and
    token counting pass; so does everything under a scored path that names none of the APIs. With the refusal:
    the API whose error shape it takes."""
    if proxy.protocol != "openai" or method.upper() in ("DELETE", "OPTIONS"):
        return None
    path = canonical_path(target)
    for base in proxy.scored_paths or DEFAULT_SCORED_PATHS:
        root = canonical_path(base)
        if root.endswith("/responses") and _conversation_items(root, path) and method.upper() == "GET":
            message = (
                "GET of a conversation's items would return answers the guardrail cannot check (an answer it "
                "blocked is stored in the conversation in full); take each answer from its create call"
            )
            return RequestError(403, "unchecked_retrieval", message), RESPONSES
        if not root.endswith(_API_ENDINGS) or not path.startswith(root + "/"):
            continue
        if path in {f"{root}/{word}" for word in _COUNTING}:  # only right under the API: not `.../{id}/count_tokens`
            return None
        message = (
            f"{method.upper()} under {root} would return an answer the guardrail cannot check (stored, cancelled "
            "or batched); take the answer from the create call or its stream instead"
        )
        return RequestError(403, "unchecked_retrieval", message), api_of(root)
    return None
