"""The Anthropic Messages API (`POST /v1/messages`): requests, answers, refusals, errors and the checked stream.

Request: every text the client sends is checked for prompt injection: `system`, every message's text blocks of
either role, `tool_result` contents (a tool's output, the classic road of an indirect injection), documents,
earlier `tool_use` inputs, and any other prose of the body (tool descriptions). The question is the last user
text; `system`, earlier turns, tool results and documents are context (evidence) for grounding.

Answer: `text` and `thinking` blocks are answer text; `tool_use` inputs follow `policy.toolArguments`; any other
prose is read as answer text.

A blocked answer is a message with `stop_reason: refusal` (what the API sends when its own classifiers stop an
answer) holding the refusal message, plus the `guardrail` field. A blocked stream closes its open block and ends
with `message_delta` (`stop_reason: refusal`) and `message_stop`. Errors are Anthropic's shape:
`{"type": "error", "error": {"type": "invalid_request_error", "message": ...}}`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from guardrail_sidecar.apis.text_gate import TextGate, event_bytes, opaque, prose, run_stream, strings
from guardrail_sidecar.errors import RequestError
from guardrail_sidecar.scored_path.protocols import ScoringRequest, _strings
from guardrail_sidecar.scored_path.responses import Extracted, is_metadata, openai_texts
from guardrail_sidecar.scoring.verdict import Assessment

ROLES = frozenset({"user", "assistant"})
_CODE = re.compile(r"[a-z_]{1,64}")  # a stop reason as the API spells them (end_turn, tool_use, ...)
_NOT_PROMPT = frozenset({"messages", "model", "system", "type", "id", "tool_use_id"})
# Error types by status, as the API names them (clients map them to exception classes).
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_body(status: int, code: str, message: str) -> dict[str, Any]:
    """The sidecar's own error in the Messages API's shape (`code`: the sidecar's stable reason code)."""
    kind = ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")
    return {"type": "error", "error": {"type": kind, "message": message, "code": code}}


def _block_texts(block: dict[str, Any], where: str) -> list[str]:
    """The client-written texts of a content block."""
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        if not isinstance(text, str):
            raise RequestError(400, "invalid_request", f"`{where}.text` must be a string")
        return [text]
    if kind == "tool_result":
        content = block.get("content")
        if content is None:
            return []
        if isinstance(content, str):
            return [content]
        if not isinstance(content, list):
            raise RequestError(400, "invalid_request", f"`{where}.content` must be a string or a list of blocks")
        return [t for j, b in enumerate(content) for t in _blocks([b], f"{where}.content[{j}]")]
    if kind == "document":
        source = block.get("source")
        data = source.get("data") if isinstance(source, dict) and source.get("type") == "text" else None
        texts = [data] if isinstance(data, str) else []
        if isinstance(source, dict) and source.get("type") == "content":
            texts += _blocks(source.get("content"), f"{where}.source.content")
        return texts + _strings(block, ("title", "context"))
    if kind in ("thinking", "redacted_thinking", "image"):
        text = block.get("thinking")
        return [text] if isinstance(text, str) else []
    return _strings(block, tuple(k for k in block if k not in ("type", "id", "tool_use_id")))


def _blocks(content: Any, where: str) -> list[str]:
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        raise RequestError(400, "invalid_request", f"`{where}` must be a string or a list of content blocks")
    out = []
    for j, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise RequestError(400, "invalid_request", f"`{where}[{j}]` must be an object with a `type`")
        out.extend(_block_texts(block, f"{where}[{j}]"))
    return out


def parse_request(body: Any) -> ScoringRequest:
    """The question, context and every client text of a Messages request; a 400 naming what is malformed."""
    if not isinstance(body, dict):
        raise RequestError(400, "invalid_request", "request body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "invalid_request", "`messages` must be a non-empty list")
    system = body.get("system")
    system_texts = [] if system is None else _blocks(system, "system")
    question, question_at = "", -1
    context: list[tuple[int, str, bool]] = [(-1, t, False) for t in system_texts]  # (message, text, spoken)
    untrusted: list[str] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise RequestError(400, "invalid_request", f"`messages[{i}]` must be an object with role user or assistant")
        content = message.get("content")
        texts = _blocks(content, f"messages[{i}].content")
        blocks = content if isinstance(content, list) else []
        spoken = [content] if isinstance(content, str) else [b["text"] for b in blocks if b.get("type") == "text"]
        if message["role"] == "user" and any(t.strip() for t in spoken):
            question, question_at = "\n".join(spoken), i
        context.extend((i, t, t in spoken) for t in texts)
        untrusted.extend(texts)
        calls = [b.get("input") for b in blocks if b.get("type") == "tool_use"]  # earlier tool calls' inputs
        untrusted.extend(_strings({"calls": calls}, ("calls",)))
    untrusted.reverse()  # the latest turns first (a fail-open budget checks those)
    untrusted.extend(system_texts)
    untrusted.extend(_strings(body, tuple(k for k in body if k not in _NOT_PROMPT)))
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise RequestError(400, "invalid_request", "`stream` must be a boolean")
    model = body.get("model")
    evidence = tuple(t for i, t, said in context if t.strip() and not (said and i == question_at))
    checked = tuple(t for t in untrusted if t.strip())
    return ScoringRequest(question, evidence, stream, model if isinstance(model, str) else "", checked)


def read(data: Any, request: ScoringRequest) -> Extracted:
    """The texts of a Messages answer (see the module's doc); `data` as parsed."""
    if not isinstance(data, dict) or not isinstance(data.get("content"), list):
        return openai_texts(data)  # not a message (another API's shape?): every text is read, not only prose
    out = Extracted("json", data)
    content = data["content"]
    texts: list[str] = []
    for block in content:
        if isinstance(block, str):
            texts.append(block)
            continue
        if not isinstance(block, dict):  # not a block: every string of it is read
            out.answers.append("\n".join(strings(block)))
            continue
        kind = block.get("type")
        # Opaque fields (a thinking block's signature, redacted thinking's encrypted data) are skipped only while
        # they are opaque (base64): prose there is read like any other text.
        sealed = {"thinking": "signature", "redacted_thinking": "data"}.get(str(kind), "")
        if sealed and not opaque(block.get(sealed)):
            out.answers.append("\n".join(strings(block.get(sealed))))
        if kind in ("text", "thinking"):
            # text blocks are parts of one answer; thinking is read on its own; a text given as a list or an
            # object is read whole
            (texts if kind == "text" else out.answers).append("".join(strings(block.get(str(kind)))))
            out.answers.extend(prose({k: v for k, v in block.items() if k not in (kind, sealed)}))
        elif kind in ("tool_use", "server_tool_use"):
            out.raw_arguments.append(json.dumps(block.get("input")))
            out.answers.extend(prose({k: v for k, v in block.items() if k != "input"}))
        else:
            out.answers.extend(prose({k: v for k, v in block.items() if k != sealed}))
    out.answers.insert(0, "".join(texts))
    rest = {k: v for k, v in data.items() if k not in ("content", "guardrail")}
    out.answers.extend(prose(rest, frozenset((request.question, *request.context, *request.untrusted))))
    out.answers = [a for a in out.answers if a.strip()]
    return out


def _numbers(value: dict[str, Any]) -> dict[str, Any]:
    """`value`'s numbers (and objects of numbers): no string, however short, is forwarded unchecked."""
    out: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            out[key] = item
        elif isinstance(item, dict):
            out[key] = _numbers(item)
    return out


def _usage(app: Any) -> dict[str, Any]:
    """The app's token counts (numbers only), or zeros."""
    usage = app.get("usage") if isinstance(app, dict) else None
    kept = _numbers(usage) if isinstance(usage, dict) else {}
    return {"input_tokens": 0, "output_tokens": 0} | kept


def _message_id(app: Any) -> str:
    given = app.get("id") if isinstance(app, dict) else None
    return given if isinstance(given, str) and is_metadata(given) else f"msg_guardrail{time.time_ns():x}"


def refusal(message: str, model: str, guardrail: dict[str, Any], app: Any = None) -> dict[str, Any]:
    """A complete refused message (`app`: the app's answer, whose ids and token counts are kept)."""
    app_model = app.get("model") if isinstance(app, dict) else None
    return {
        "id": _message_id(app),
        "type": "message",
        "role": "assistant",
        "model": app_model if isinstance(app_model, str) and is_metadata(app_model) else model,
        "content": [{"type": "text", "text": message}],
        "stop_reason": "refusal",
        "stop_sequence": None,
        "usage": _usage(app),
        "guardrail": guardrail,
    }


def refusal_events(message: dict[str, Any]) -> bytes:
    """A refused message as the event stream the API would send for it."""
    text = message["content"][0]["text"]
    start = {k: v for k, v in message.items() if k != "guardrail"} | {"content": [], "stop_reason": None}
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"type": "message_delta", "stop_reason": "refusal", "stop_sequence": None},
            "usage": {"output_tokens": message["usage"].get("output_tokens", 0)},
            "guardrail": message["guardrail"],
        },
        {"type": "message_stop"},
    ]
    return b"".join(event_bytes(e, e["type"]) for e in events)


def blocked_body(message: str, model: str, guardrail: dict[str, Any], app: Any) -> dict[str, Any]:
    """A blocked non-streamed answer (the app's ids kept, its text not)."""
    return refusal(message, model, guardrail, app)


# --- the checked stream


@dataclass
class _Block:
    kind: str
    start: dict[str, Any]
    index: int | None = None  # ours, once sent (text blocks at once, others when done)
    parts: list[str] = field(default_factory=list)  # joined deltas of a held block
    signature: str = ""
    done: bool = False  # the app ended it: later deltas are not sent
    stopped: bool = False  # its content_block_stop is sent


class MessagesGate:
    """Reads the app's Messages events and writes a stream of its own: text blocks only once checked (deltas
    re-sent by the gate), other blocks (tool_use, thinking) whole once checked, a final `message_delta` with the
    verdict, then `message_stop`."""

    def __init__(self, gate: TextGate, limit: int = 4_194_304) -> None:
        self.gate = gate
        self.limit = limit  # maxResponseBytes: what held blocks may hold together (their deltas are kept whole)
        self.held_bytes = 0
        self.started = False
        self.message: dict[str, Any] = {}
        self.blocks: dict[int, _Block] = {}  # by the app's index
        self.next_index = 0
        self.current: int | None = None  # the app index of the text block being fed
        # a text block the app ended whose tail the detectors still hold: a next text block continues it (clients
        # join them: `jane.roe@exa` + `mple.com`), so its content_block_stop waits for the next event
        self.deferred: int | None = None
        self.stop_reason: str = "end_turn"
        self.stop_sequence: str | None = None
        self.output_tokens = 0

    async def start(self, message: Any = None) -> None:
        if self.started:
            return
        self.started = True
        app = message if isinstance(message, dict) else {}
        model = app.get("model")
        self.message = {
            "id": _message_id(app),
            "type": "message",
            "role": "assistant",
            "model": model if isinstance(model, str) and is_metadata(model) else self.gate.request.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": _usage(app),
        }
        await self.gate.write({"type": "message_start", "message": self.message}, "message_start")

    async def handle(self, event: dict[str, Any]) -> bool:
        """One app event; False when the stream stops here (blocked)."""
        kind = event.get("type")
        if kind == "message_start":
            await self.start(event.get("message"))
            return True
        await self.start()
        if kind == "error":
            self.gate.broken("the app sent an error event")
            return False
        if kind == "ping":
            await self.gate.write({"type": "ping"}, "ping")
            return True
        if kind == "message_delta":
            given = event.get("delta")
            delta: dict[str, Any] = given if isinstance(given, dict) else {}
            reason, sequence = delta.get("stop_reason"), delta.get("stop_sequence")
            # forwarded as they are: a reason code only, a stop sequence of two words at most that detectors passed
            self.stop_reason = reason if isinstance(reason, str) and _CODE.fullmatch(reason) else self.stop_reason
            given = sequence if isinstance(sequence, str) and is_metadata(sequence) else None
            if given is not None and not await self.gate.check_sent(given):  # spec.detectors read it too
                return False
            self.stop_sequence = given
            tokens = (event.get("usage") or {}).get("output_tokens") if isinstance(event.get("usage"), dict) else None
            self.output_tokens = tokens if isinstance(tokens, int) else self.output_tokens
            return True
        index = event.get("index")
        if not isinstance(index, int) or isinstance(index, bool):
            return True  # message_stop (the gate writes its own) and unknown events: not sent
        if kind == "content_block_start":
            return await self._open(index, event.get("content_block"))
        block = self.blocks.get(index)
        if block is None or block.done:
            return True
        if kind == "content_block_delta":
            return await self._delta(index, block, event.get("delta"))
        if kind == "content_block_stop":
            return await self._close(index, block)
        return True

    async def _open(self, index: int, start: Any) -> bool:
        if index in self.blocks or not isinstance(start, dict) or not isinstance(start.get("type"), str):
            return True
        block = _Block(start["type"], start)
        self.blocks[index] = block
        if block.kind != "text":
            return True  # held whole until it ends
        block.index = self._take_index()
        await self.gate.write(
            {"type": "content_block_start", "index": block.index, "content_block": {"type": "text", "text": ""}},
            "content_block_start",
        )
        text = start.get("text")
        return await self._text(index, text) if isinstance(text, str) and text else True

    def _take_index(self) -> int:
        self.next_index += 1
        return self.next_index - 1

    async def _delta(self, index: int, block: _Block, delta: Any) -> bool:
        if not isinstance(delta, dict):
            return True
        kind = delta.get("type")
        if block.kind == "text":
            text = delta.get("text")
            return await self._text(index, text) if kind == "text_delta" and isinstance(text, str) else True
        value = {"input_json_delta": "partial_json", "thinking_delta": "thinking"}.get(str(kind))
        if value is not None and isinstance(delta.get(value), str):
            block.parts.append(delta[value])
            self.held_bytes += len(delta[value])
        elif kind == "signature_delta" and isinstance(delta.get("signature"), str):
            block.signature = delta["signature"]
        if self.held_bytes > self.limit:  # an endless tool_use or thinking block must not fill the memory
            self.gate.broken(f"held content blocks exceed maxResponseBytes ({self.limit} bytes)")
            return False
        return True

    async def _flush(self, final: bool, carry: bool = False) -> bool:
        if self.current is None:
            return True
        block = self.blocks[self.current]
        text = await self.gate.release(final=final, carry=carry)
        if text is None:
            return False
        if final:
            self.current = None
        await self._send(block, text)
        return True

    async def _send(self, block: _Block, text: str) -> None:
        if text and block.index is not None:
            delta = {"type": "content_block_delta", "index": block.index, "delta": {"type": "text_delta", "text": text}}
            await self.gate.write(delta, "content_block_delta")

    async def _settle(self, joined: bool = False) -> bool:
        """End the deferred text block: its held tail continues in the next text block (`joined`), or else is
        checked as the end of the text and sent in it; then its content_block_stop."""
        if self.deferred is None:
            return True
        block = self.blocks[self.deferred]
        self.deferred = None
        if not joined:
            text = await self.gate.settle()
            if text is None:
                return False
            await self._send(block, text)
        await self._stop(block)
        return True

    async def _stop(self, block: _Block) -> None:
        block.stopped = True
        await self.gate.write({"type": "content_block_stop", "index": block.index}, "content_block_stop")

    async def _text(self, index: int, text: str) -> bool:
        if not await self._settle(joined=True):
            return False
        if self.current != index and not await self._flush(final=True):
            return False
        self.current = index
        return await self._flush(final=False) if self.gate.feed(text) else True

    async def _close(self, index: int, block: _Block) -> bool:
        if block.kind == "text":
            block.done = True
            if self.current == index:
                if not await self._settle() or not await self._flush(final=True, carry=True):
                    return False
                self.deferred = index  # stopped once the next event shows whether text continues it
                return True
            if not await self._settle():
                return False
            await self._stop(block)
            return True
        return await self._settle() and await self._whole(block)

    async def _whole(self, block: _Block) -> bool:
        """A finished tool_use, thinking or other block: checked whole, then sent whole."""
        block.done = True
        final = dict(block.start)
        joined = "".join(block.parts)
        if block.kind in ("tool_use", "server_tool_use"):
            if joined.strip():
                try:
                    final["input"] = json.loads(joined)
                except ValueError:
                    return self.gate.unreadable("tool_use input that is not JSON")
        elif block.kind == "thinking":
            final["thinking"] = str(final.get("thinking") or "") + joined
            final["signature"] = block.signature or final.get("signature", "")
        found = read({"content": [final]}, self.gate.request)
        if found.raw_arguments and not await self.gate.check_tools(found.raw_arguments):
            return False
        if not await self.gate.check_text(found.answers) or not await self.gate.check_sent(final):
            return False
        block.index = self._take_index()
        start, deltas = dict(final), []
        if block.kind in ("tool_use", "server_tool_use"):
            start["input"] = {}
            deltas = [{"type": "input_json_delta", "partial_json": json.dumps(final.get("input", {}))}]
        elif block.kind == "thinking":
            start |= {"thinking": "", "signature": ""}
            deltas = [
                {"type": "thinking_delta", "thinking": final["thinking"]},
                {"type": "signature_delta", "signature": final["signature"]},
            ]
        await self.gate.write(
            {"type": "content_block_start", "index": block.index, "content_block": start}, "content_block_start"
        )
        for delta in deltas:
            await self.gate.write(
                {"type": "content_block_delta", "index": block.index, "delta": delta}, "content_block_delta"
            )
        await self.gate.write({"type": "content_block_stop", "index": block.index}, "content_block_stop")
        return True

    async def finish(self) -> bool:
        """The app's stream ended: the rest of the text and any block left open."""
        await self.start()
        if not await self._flush(final=True) or not await self._settle():
            return False
        for index, block in list(self.blocks.items()):
            if not block.done and not await self._close(index, block):
                return False
        return True

    async def end(self, stopped: bool, verdict: dict[str, Any]) -> None:
        """Close the open text block, then `message_delta` (stop reason, verdict) and `message_stop`."""
        for block in self.blocks.values():
            if block.kind == "text" and block.index is not None and not block.stopped:
                await self._stop(block)
        reason = "refusal" if stopped else self.stop_reason
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": None if stopped else self.stop_sequence},
            "usage": {"output_tokens": self.output_tokens},
            "guardrail": verdict,
        }
        await self.gate.write(delta, "message_delta")
        await self.gate.write({"type": "message_stop"}, "message_stop")


async def gate_stream(
    gate: TextGate, response: aiohttp.ClientResponse, limit: int, decided: Callable[[Assessment, bool], dict[str, Any]]
) -> None:
    """Run the app's Messages stream through `gate`, writing the checked stream; `decided(verdict, stopped)`
    records the verdict and returns the `guardrail` field of the last event."""
    await run_stream(gate, MessagesGate(gate, limit), response, limit, decided)
