"""Server-sent events: split a byte stream into events and build the events the sidecar emits."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

DONE = "[DONE]"
TEXT_COMPLETION = "text_completion"  # the legacy completions API: chunks carry `choices[].text`


@dataclass(frozen=True)
class Event:
    raw: bytes  # the event as received, blank-line terminator included
    data: str | None  # joined `data:` lines, None when the event has none


class EventParser:
    """Feed bytes, get complete events; tolerates \\n, \\r\\n and arbitrary chunk boundaries."""

    def __init__(self, max_event_bytes: int) -> None:
        self._buffer = b""
        self._max = max_event_bytes

    def feed(self, chunk: bytes) -> list[Event]:
        self._buffer += chunk.replace(b"\r\n", b"\n")
        events = []
        while (cut := self._buffer.find(b"\n\n")) >= 0:
            raw, self._buffer = self._buffer[: cut + 2], self._buffer[cut + 2 :]
            events.append(Event(raw, _data_of(raw)))
        if len(self._buffer) > self._max:
            raise ValueError(f"stream event larger than {self._max} bytes")
        return events

    def finish(self) -> list[Event]:
        rest, self._buffer = self._buffer, b""
        return [Event(rest + b"\n\n", _data_of(rest))] if rest.strip() else []


def _data_of(raw: bytes) -> str | None:
    lines = [line[5:].removeprefix(b" ") for line in raw.split(b"\n") if line.startswith(b"data:")]
    return b"\n".join(lines).decode("utf-8", errors="replace") if lines else None


def encode(data: dict[str, Any] | str) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {text}\n\n".encode()


def content_chunk(template: dict[str, Any], text: str) -> dict[str, Any]:
    """A chat.completion.chunk carrying `text` as choice 0's delta, ids copied from the app's stream (a
    `text_completion` chunk carrying it as choice 0's `text` when the template says so)."""
    if template.get("object") == TEXT_COMPLETION:
        return {
            "id": template.get("id", "cmpl-guardrail"),
            "object": TEXT_COMPLETION,
            "created": template.get("created", 0),
            "model": template.get("model", ""),
            "choices": [{"index": 0, "text": text, "finish_reason": None, "logprobs": None}],
        }
    return {
        "id": template.get("id", "chatcmpl-guardrail"),
        "object": "chat.completion.chunk",
        "created": template.get("created", 0),
        "model": template.get("model", ""),
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }


def final_chunk(template: dict[str, Any], finish_reason: str, guardrail: dict[str, Any]) -> dict[str, Any]:
    chunk = content_chunk(template, "")
    if template.get("object") != TEXT_COMPLETION:
        chunk["choices"][0]["delta"] = {}
    chunk["choices"][0]["finish_reason"] = finish_reason
    chunk["guardrail"] = guardrail
    return chunk


async def open_stream(request: web.Request, revision: str) -> web.StreamResponse:
    """The checked event stream the sidecar answers a streamed request with, its headers sent."""
    out = web.StreamResponse(
        status=200,
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "x-guardrail-revision": revision},
    )
    await out.prepare(request)
    return out
