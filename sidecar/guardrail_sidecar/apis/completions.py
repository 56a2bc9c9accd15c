"""The legacy OpenAI completions API (`POST /v1/completions`): `prompt` in, `choices[].text` out.

Scored like chat completions (the answer reader and the stream gate read `text` choices already); a prompt given
as token ids cannot be read, so it is refused (400) rather than forwarded unchecked. A blocked answer is a
`text_completion` whose choices hold the refusal with `finish_reason: content_filter`.
"""

from __future__ import annotations

import time
from typing import Any

from guardrail_sidecar.errors import RequestError
from guardrail_sidecar.scored_path import sse
from guardrail_sidecar.scored_path.protocols import _NOT_TEXT, ScoringRequest, _strings
from guardrail_sidecar.scored_path.responses import is_metadata

_NOT_PROMPT = _NOT_TEXT | {"prompt", "model", "suffix"}


def parse_request(body: Any) -> ScoringRequest:
    """The prompt (the question; the last one when a list is sent) and every client text; 400 when the prompt
    is not text."""
    if not isinstance(body, dict):
        raise RequestError(400, "invalid_request", "request body must be a JSON object")
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        prompts = [prompt]
    elif isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        prompts = list(prompt)
    elif isinstance(prompt, list) and prompt:
        raise RequestError(
            400,
            "invalid_request",
            "`prompt` as token ids cannot be checked for prompt injection; send the prompt as a string or a list "
            "of strings",
        )
    else:
        raise RequestError(400, "invalid_request", "`prompt` must be a string or a non-empty list of strings")
    suffix = body.get("suffix")
    if suffix is not None and not isinstance(suffix, str):
        raise RequestError(400, "invalid_request", "`suffix` must be a string")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise RequestError(400, "invalid_request", "`stream` must be a boolean")
    if stream and (body.get("n", 1) != 1 or body.get("best_of", 1) != 1 or len(prompts) != 1):
        raise RequestError(400, "invalid_request", "streaming more than one completion cannot be checked; use n = 1")
    untrusted = [*reversed(prompts), *([suffix] if suffix else [])]
    untrusted += _strings(body, tuple(k for k in body if k not in _NOT_PROMPT))
    model = body.get("model")
    checked = tuple(t for t in untrusted if t.strip())
    return ScoringRequest(prompts[-1], (), stream, model if isinstance(model, str) else "", checked)


def refusal(message: str, model: str, guardrail: dict[str, Any], app: Any = None) -> dict[str, Any]:
    """A complete `text_completion` carrying the refusal in each of the app's choices (one when none)."""
    data = app if isinstance(app, dict) else {}
    choices = data.get("choices")
    count = len(choices) if isinstance(choices, list) and choices else 1
    out: dict[str, Any] = {
        "id": f"cmpl-guardrail-{time.time_ns():x}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": i, "text": message, "finish_reason": "content_filter", "logprobs": None} for i in range(count)
        ],
        "guardrail": guardrail,
    }
    for key in ("id", "created", "model"):
        if is_metadata(data.get(key)):
            out[key] = data[key]
    return out


def refusal_events(completion: dict[str, Any]) -> bytes:
    """A refused completion as a stream of `text_completion` chunks."""
    template = {k: completion[k] for k in ("id", "created", "model")} | {"object": "text_completion"}
    first = sse.content_chunk(template, completion["choices"][0]["text"])
    last = sse.final_chunk(template, "content_filter", completion["guardrail"])
    return sse.encode(first) + sse.encode(last) + sse.encode(sse.DONE)
