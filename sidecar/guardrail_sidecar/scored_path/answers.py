"""The app's (non-streamed) answer on a scored path: read it, score every text in it, build the client's reply.

A 2xx answer is read whatever its type (`responses.read_answer`) and scored; a passing one is forwarded as the
sidecar read it, a blocked one rebuilt as a refusal. A non-2xx answer becomes the sidecar's JSON error; an
unreadable one follows `policy.onUnreadableAnswer`. Streams are `streaming.py`'s.
"""

from __future__ import annotations

import json
import logging
import zlib
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from guardrail_sidecar.apis import tool_arguments
from guardrail_sidecar.apis.dispatch import CHAT, Api
from guardrail_sidecar.errors import UpstreamError
from guardrail_sidecar.observability import tracing
from guardrail_sidecar.scored_path import sse
from guardrail_sidecar.scored_path.detection import check_answer, redact_citations
from guardrail_sidecar.scored_path.protocols import ScoringRequest, guardrail_field, openai_refusal, set_path
from guardrail_sidecar.scored_path.reporting import record, verdict_headers
from guardrail_sidecar.scored_path.responses import (
    Extracted,
    Unreadable,
    app_headers,
    is_metadata,
    read_answer,
    without_dropped,
    without_prose,
)
from guardrail_sidecar.scored_path.shadow import ShadowJob
from guardrail_sidecar.scoring.pipeline import Pipeline, claims_of
from guardrail_sidecar.scoring.verdict import Assessment, aggregate, unreadable
from guardrail_sidecar.server.http import error_response
from guardrail_sidecar.server.proxy import ReverseProxy, raw_headers

log = logging.getLogger("guardrail.sidecar")
_WORST = {"pass": 0, "flag": 1, "block": 2}


async def read_response(proxy: ReverseProxy, response: aiohttp.ClientResponse) -> tuple[bytes, bytes | Unreadable]:
    """The app's body as sent, and without its content coding (or why that cannot be undone)."""
    limit = proxy.config.proxy.max_response_bytes
    chunks, size = [], 0
    try:
        async for chunk in response.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise UpstreamError(502, f"the app's answer exceeds maxResponseBytes ({limit} bytes)")
            chunks.append(chunk)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise UpstreamError(502, f"the app's response broke off: {exc}") from exc
    raw = b"".join(chunks)
    try:
        return raw, decode(raw, response.headers.get("Content-Encoding", ""), limit)
    except Unreadable as exc:
        return raw, exc


def decode(payload: bytes, encoding: str, limit: int) -> bytes:
    """The body without its content coding (we ask for identity, but an app may compress anyway); an unknown
    or corrupt coding is `Unreadable` (never passed on unchecked), a bomb past `limit` an `UpstreamError`."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return payload
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise Unreadable(f"Content-Encoding {encoding[:40]} cannot be read")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if "gzip" in encoding else zlib.MAX_WBITS)
    try:
        out = inflater.decompress(payload, limit)
    except zlib.error as exc:
        raise Unreadable(f"the {encoding} answer is corrupt: {exc}") from exc
    if inflater.unconsumed_tail:
        raise UpstreamError(502, f"the app's answer exceeds maxResponseBytes ({limit} bytes) once decompressed")
    return out


def _error_status(
    proxy: ReverseProxy, pipeline: Pipeline, response: aiohttp.ClientResponse, request_id: str
) -> web.Response:
    """A non-2xx answer on a scored path: its status with the sidecar's own JSON error, never the app's body
    (which may hold an unchecked answer or internal details); the details go to the log."""
    proxy.metrics.upstream_errors.labels(pipeline.revision).inc()
    log.warning(
        "the app answered a scored request with an error status",
        extra={"fields": {"status": response.status, "revision": pipeline.revision, "request_id": request_id}},
    )
    headers = {"x-guardrail-revision": pipeline.revision, "x-guardrail-reason": "upstream_error"}
    if retry := response.headers.get("Retry-After"):
        headers["Retry-After"] = retry[:64]
    message = f"the app answered with status {response.status}"
    return error_response(response.status, "upstream_error", message, headers)


def _unreadable(
    proxy: ReverseProxy, pipeline: Pipeline, error: Unreadable, request_id: str
) -> tuple[Assessment, web.Response | None]:
    """The policy's decision on an unreadable answer, counted; with block, the 502 the client gets."""
    action = pipeline.policy.unreadable_action
    proxy.metrics.unreadable_answers.labels(pipeline.revision, action).inc()
    assessment = unreadable(action, str(error))
    record(proxy, pipeline, assessment, request_id, "answer")
    if action == "pass" or pipeline.policy.mode == "monitor":
        return assessment, None
    headers = verdict_headers(assessment, pipeline.revision)
    message = "the app's answer could not be read, so it could not be checked; it was withheld"
    return assessment, error_response(502, "unreadable_answer", message, headers)


async def _assess(
    pipeline: Pipeline, found: Extracted, request: ScoringRequest, patterns: tuple[str, ...] = ()
) -> Assessment:
    """The worst verdict over every text of the answer (answers with their question) and its tool-call arguments
    (by `policy.toolArguments`)."""
    claim_lists = [claims_of(a, request) for a in found.answers if a.strip()]
    # Streamed argument deltas are one JSON text per call once joined; a JSON body's are whole already.
    raw = ["".join(found.raw_arguments)] if found.kind == "sse" and found.raw_arguments else found.raw_arguments
    finding, tool_claims = await tool_arguments.check(pipeline, raw, patterns)
    if finding is not None and (finding.verdict == "block" or finding.backend_error):
        return finding
    claim_lists = [c for c in [*claim_lists, tool_claims] if c]
    if not claim_lists:
        return finding or aggregate([], pipeline.policy.threshold, pipeline.policy.soft_limit)
    assessments = [await pipeline.assess_claims(c, request) for c in claim_lists]
    assessment = max(assessments, key=lambda a: (_WORST[a.verdict], -a.score))
    if len(assessments) > 1 and not any(a.backend_error for a in assessments):
        merged = [c for a in assessments for c in a.claims]
        assessment = aggregate(merged, pipeline.policy.threshold, pipeline.policy.soft_limit)
    if finding is not None and _WORST[finding.verdict] > _WORST[assessment.verdict]:
        return finding
    return assessment


def _refusal_body(
    proxy: ReverseProxy,
    pipeline: Pipeline,
    found: Extracted,
    request: ScoringRequest,
    field: dict[str, Any],
    api: Api = CHAT,
) -> Any:
    """A blocked answer, rebuilt (openai): only the refusal, the app's ids and the guardrail field remain."""
    message = pipeline.policy.refusal_message
    if proxy.config.proxy.protocol == "json":  # the refusal at the answer path; ids and labels of the rest kept
        data = without_prose(found.data) if isinstance(found.data, dict) else {}
        return set_path(data, proxy.config.proxy.json_fields.answer_path, message) | {"guardrail": field}
    if api.blocked is not None:  # the API's own shape, the app's ids kept
        return api.blocked(message, request.model, field, found.data if found.kind == "json" else None)
    data = found.data if isinstance(found.data, dict) else {}
    out = openai_refusal(message, request.model, field)
    for key in ("id", "created", "model"):
        if is_metadata(data.get(key)):
            out[key] = data[key]
    choices = data.get("choices")
    if isinstance(choices, list) and len(choices) > 1:
        out["choices"] = [dict(out["choices"][0], index=i) for i in range(len(choices))]
    return out


async def score_response(
    proxy: ReverseProxy,
    pipeline: Pipeline,
    response: aiohttp.ClientResponse,
    body: tuple[bytes, bytes | Unreadable],
    scoring_request: ScoringRequest,
    request_id: str,
    api: Api = CHAT,
) -> web.Response:
    raw, payload = body
    if not 200 <= response.status < 300:
        return _error_status(proxy, pipeline, response, request_id)
    headers = app_headers(
        raw_headers(response), drop=("content-length", "content-type", "content-encoding"), scored=True
    )
    content_type = response.headers.get("Content-Type", "")
    policy = pipeline.policy
    try:
        if isinstance(payload, Unreadable):
            raise payload
        config = proxy.config.proxy
        found = read_answer(payload, content_type, config.protocol, config.json_fields, config.max_response_bytes)
        if api.read is not None and found.kind == "json":
            found = api.read(found.data, scoring_request)
    except Unreadable as exc:
        assessment, refusal = _unreadable(proxy, pipeline, exc, request_id)
        if refusal is not None:
            return refusal
        headers.update(verdict_headers(assessment, pipeline.revision))
        if content_type:
            headers["Content-Type"] = content_type
        if isinstance(payload, bytes):
            return web.Response(
                body=payload if isinstance(payload, bytes) else raw, status=response.status, headers=headers
            )
        headers["Content-Encoding"] = response.headers.get("Content-Encoding", "")  # passed on as the app sent it
        return web.Response(body=raw, status=response.status, headers=headers)
    tracing.note_answer(found.data)
    read, patterns = found, tuple(proxy.config.audit.redact_patterns)
    found, detected, detector_headers = await check_answer(pipeline, found)  # spec.detectors: redacted or blocked
    headers.update(detector_headers)
    assessment = detected or await _assess(pipeline, found, scoring_request, patterns)
    record(proxy, pipeline, assessment, request_id, "answer")
    served = proxy.revisions  # shadow stage: a sample is scored by the candidate too, after this reply, unseen
    served.shadow.offer(pipeline, served.canary, shadow_job(read, scoring_request, patterns), assessment)
    headers.update(verdict_headers(assessment, pipeline.revision))
    field = redact_citations(pipeline, guardrail_field(assessment, pipeline.revision, policy.citations))
    if policy.mode == "enforce" and assessment.verdict == "block":
        refusal = _refusal_body(proxy, pipeline, found, scoring_request, field, api)
        if scoring_request.stream and proxy.config.proxy.protocol == "openai":
            events = api.refusal_events(refusal)
            return web.Response(body=events, content_type="text/event-stream", headers=headers)
        return web.json_response(refusal, status=200, headers=headers)
    return _passed(found, field, response.status, content_type, headers)


def shadow_job(found: Extracted, request: ScoringRequest, patterns: tuple[str, ...]) -> ShadowJob:
    """The candidate's scoring of an answer as read (its own detectors, then grounding), for the shadow queue."""

    async def job(candidate: Pipeline) -> Assessment:
        checked, detected, _ = await check_answer(candidate, found)
        return detected or await _assess(candidate, checked, request, patterns)

    return job


def _passed(
    found: Extracted, field: dict[str, Any], status: int, content_type: str, headers: CIMultiDict[str]
) -> web.Response:
    """A passing answer, forwarded as the sidecar read it: JSON and SSE are re-serialised from the parsed
    values that were checked (so a duplicate key or other parser difference cannot show the client a text the
    sidecar did not read), text is sent as the UTF-8 it was decoded from."""
    if found.kind == "json" and isinstance(found.data, dict):  # annotated with the verdict
        return web.json_response(without_dropped(found.data) | {"guardrail": field}, status=status, headers=headers)
    if found.kind == "json":  # a JSON array or scalar: nowhere to put the field; the headers carry the verdict
        return web.json_response(without_dropped(found.data), status=status, headers=headers)
    if found.kind == "sse":
        events = [sse.encode(json.dumps(without_dropped(e), separators=(",", ":"))) for e in found.data]
        body = b"".join(events) + sse.encode(sse.DONE)
        return web.Response(body=body, status=status, content_type="text/event-stream", headers=headers)
    if found.kind == "empty":
        return web.Response(status=status, headers=headers)
    main = content_type.split(";", 1)[0].strip() or "text/plain"
    headers["Content-Type"] = f"{main}; charset=utf-8"
    body = "".join(found.answers).encode()
    return web.Response(body=body, status=status, headers=headers)
