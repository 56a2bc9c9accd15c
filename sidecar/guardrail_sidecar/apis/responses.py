"""The OpenAI Responses API (`POST /v1/responses`): requests, answers, refusals and the checked stream.

Request: every text the client sends is checked for prompt injection: `instructions`, each input item (messages
of every role, tool outputs such as `function_call_output`, earlier tool calls) and any other prose of the body
(tool descriptions, prompt variables). The question is the last user message; instructions, system and developer
messages, earlier turns and tool outputs are context (evidence) for grounding.

Answer: each message item's `output_text` and `refusal` parts are answer text; reasoning summaries too; function
and custom tool calls follow `policy.toolArguments`; any other prose in the body (three words or more) is read as
answer text unless it is an echo of the client's own text (`instructions`, tool descriptions).

A blocked answer is a response with `status: incomplete` and `incomplete_details.reason: content_filter` (what
the API itself sends when its content filter stops an answer), the refusal message as its only output text, and
the `guardrail` field. A blocked stream ends with `response.incomplete` after closing every open item.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from guardrail_sidecar.apis.text_gate import (
    TextGate,
    event_bytes,
    metadata_only,
    opaque,
    prose,
    request_texts,
    run_stream,
    strings,
)
from guardrail_sidecar.errors import RequestError
from guardrail_sidecar.scored_path.protocols import (
    _NOT_TEXT,
    CONTEXT_ROLES,
    ScoringRequest,
    _strings,
    _text_of,
)
from guardrail_sidecar.scored_path.responses import Extracted, is_metadata, openai_texts
from guardrail_sidecar.scoring.verdict import Assessment

TOOL_OUTPUTS = frozenset(
    {
        "function_call_output",
        "custom_tool_call_output",
        "computer_call_output",
        "local_shell_call_output",
        "shell_call_output",
        "apply_patch_call_output",
        "mcp_approval_response",
    }
)
_TOOL_CALLS = {"function_call": "arguments", "custom_tool_call": "input"}
_PART_TEXTS = ("text", "refusal")
_REQUIRED = {"parallel_tool_calls": True, "tool_choice": "auto", "tools": []}  # fields a Response must have
_NOT_PROMPT = _NOT_TEXT | {"input", "model", "instructions", "call_id", "previous_response_id"}


def parse_request(body: Any) -> ScoringRequest:
    """The question, context and every client text of a Responses request; a 400 naming what is malformed."""
    if not isinstance(body, dict):
        raise RequestError(400, "invalid_request", "request body must be a JSON object")
    given = body.get("input")
    if given is None:
        items: list[Any] = []
    elif isinstance(given, str):
        items = [{"type": "message", "role": "user", "content": given}]
    elif isinstance(given, list):
        items = given
    else:
        raise RequestError(400, "invalid_request", "`input` must be a string or a list of input items")
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise RequestError(400, "invalid_request", "`instructions` must be a string")
    question, question_at = "", -1
    context: list[tuple[int, str]] = [(-1, instructions)] if instructions and instructions.strip() else []
    untrusted: list[str] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise RequestError(400, "invalid_request", f"`input[{i}]` must be an object (an input item)")
        kind = item.get("type", "message")
        if not isinstance(kind, str):
            raise RequestError(400, "invalid_request", f"`input[{i}].type` must be a string")
        if kind == "message":
            role = item.get("role")
            if not isinstance(role, str):
                raise RequestError(400, "invalid_request", f"`input[{i}]` is a message without a `role`")
            text = _text_of(item.get("content"), f"input[{i}].content")
            if role == "user":
                question, question_at = text, i
            if role in CONTEXT_ROLES and text.strip():
                context.append((i, text))
            untrusted.append(text)
        elif kind in TOOL_OUTPUTS:
            output = item.get("output")
            text = (
                output
                if isinstance(output, str)
                else _text_of(output, f"input[{i}].output")
                if isinstance(output, list)
                else json.dumps(output)
                if output is not None
                else ""
            )
            if text.strip():
                context.append((i, text))  # a tool's result is evidence, and read for indirect injections
            untrusted.append(text)
            untrusted.extend(_strings({"item": {k: v for k, v in item.items() if k != "output"}}, ("item",)))
        else:  # earlier tool calls, reasoning, references: their prose
            untrusted.extend(_strings({"item": item}, ("item",)))
    untrusted.reverse()  # the latest turns first (a fail-open budget checks those)
    if instructions:
        untrusted.append(instructions)
    untrusted.extend(_strings(body, tuple(k for k in body if k not in _NOT_PROMPT)))
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise RequestError(400, "invalid_request", "`stream` must be a boolean")
    model = body.get("model")
    checked = tuple(t for t in untrusted if t.strip())
    evidence = tuple(t for i, t in context if i != question_at)
    return ScoringRequest(question, evidence, stream, model if isinstance(model, str) else "", checked)


def _part_text(part: Any) -> str:
    """A content part's text (and refusal); one given as a list or an object is read whole, not skipped."""
    if not isinstance(part, dict):
        return "".join(strings(part))
    return "".join(t for key in _PART_TEXTS for t in strings(part.get(key)))


def read(data: Any, request: ScoringRequest) -> Extracted:
    """The texts of a Responses answer (see the module's doc); `data` as parsed."""
    if not isinstance(data, dict) or not isinstance(data.get("output"), list):
        return openai_texts(data)  # not a response (another API's shape?): every text is read, not only prose
    out = Extracted("json", data)
    echoes = request_texts(request)
    output = data.get("output")
    for item in output if isinstance(output, list) else []:
        kind = item.get("type") if isinstance(item, dict) else None
        if not isinstance(item, dict):
            out.answers.append("\n".join(strings(item)))
        elif kind == "message" and isinstance(item.get("content"), (list, str)):
            content = item["content"]
            parts = content if isinstance(content, list) else [content]
            out.answers.append("".join(_part_text(p) for p in parts))
            beside = [{k: v for k, v in p.items() if k not in _PART_TEXTS} for p in parts if isinstance(p, dict)]
            out.answers.extend(prose([beside, {k: v for k, v in item.items() if k != "content"}]))
        elif kind in _TOOL_CALLS:
            raw = item.get(_TOOL_CALLS[kind])
            if isinstance(raw, str):
                out.raw_arguments.append(raw)
            out.answers.extend(prose({k: v for k, v in item.items() if k != _TOOL_CALLS[kind]}))
        elif kind == "reasoning":
            parts = [p for key in ("summary", "content") for p in _listed(item.get(key))]
            out.answers.append("\n".join(t for p in parts if (t := _part_text(p))))
            beside = [{k: v for k, v in p.items() if k not in _PART_TEXTS} for p in parts if isinstance(p, dict)]
            rest = {k: v for k, v in item.items() if k not in ("summary", "content", "encrypted_content")}
            out.answers.extend(prose([beside, rest]))
            if not opaque(item.get("encrypted_content")):  # a real one is base64; prose there is read
                out.answers.extend(strings(item.get("encrypted_content")))
        else:
            out.answers.extend(prose(item))
    rest = {k: v for k, v in data.items() if k not in ("output", "guardrail")}
    if outside := prose(rest, echoes):
        out.answers.append("\n".join(outside))
    out.answers = [a for a in out.answers if a.strip()]
    return out


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _response_id(app: Any) -> str:
    given = app.get("id") if isinstance(app, dict) else None
    return given if isinstance(given, str) and is_metadata(given) else f"resp_guardrail{time.time_ns():x}"


def refusal(message: str, model: str, guardrail: dict[str, Any], app: Any = None) -> dict[str, Any]:
    """A complete blocked response: the refusal as its only output text (`app`: the app's answer, whose ids
    are kept)."""
    created = app.get("created_at") if isinstance(app, dict) else None
    app_model = app.get("model") if isinstance(app, dict) else None
    item = {
        "id": f"msg_guardrail{time.time_ns():x}",
        "type": "message",
        "status": "incomplete",
        "role": "assistant",
        "content": [{"type": "output_text", "text": message, "annotations": []}],
    }
    return {
        "id": _response_id(app),
        "object": "response",
        "created_at": created if isinstance(created, (int, float)) else int(time.time()),
        "status": "incomplete",
        "incomplete_details": {"reason": "content_filter"},
        "error": None,
        "model": app_model if isinstance(app_model, str) and is_metadata(app_model) else model,
        "output": [item],
        **_REQUIRED,
        "guardrail": guardrail,
    }


def refusal_events(response: dict[str, Any]) -> bytes:
    """A blocked response as the event stream the API would send for it."""
    item = response["output"][0]
    text = item["content"][0]["text"]
    ids = {"item_id": item["id"], "output_index": 0}
    started = {k: v for k, v in response.items() if k not in ("incomplete_details", "guardrail")}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": started | {"status": "in_progress", "output": []}},
        {"type": "response.output_item.added", "output_index": 0, "item": item | {"content": []}},
        {"type": "response.content_part.added", **ids, "content_index": 0, "part": _part("")},
        {"type": "response.output_text.delta", **ids, "content_index": 0, "delta": text, "logprobs": []},
        {"type": "response.output_text.done", **ids, "content_index": 0, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **ids, "content_index": 0, "part": _part(text)},
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.incomplete", "response": response},
    ]
    return b"".join(event_bytes(e | {"sequence_number": n}, e["type"]) for n, e in enumerate(events))


def _part(text: str, kind: str = "output_text") -> dict[str, Any]:
    return {"type": kind, "text": text, "annotations": []} if kind == "output_text" else {"type": kind, kind: text}


# --- the checked stream

_TEXT_EVENTS = {  # streamed part kinds: (delta event, done event, the part's text field)
    "output_text": ("response.output_text.delta", "response.output_text.done", "text"),
    "refusal": ("response.refusal.delta", "response.refusal.done", "refusal"),
}
_LIFECYCLE = ("response.created", "response.in_progress", "response.queued")
_ENDINGS = ("response.completed", "response.incomplete", "response.failed")


@dataclass
class _Part:
    kind: str
    index: int  # ours
    sent: str = ""
    done: bool = False  # the app ended it: later text is not sent
    closed: bool = False  # its done events are sent


@dataclass
class _Message:
    item_id: str
    index: int  # ours
    parts: dict[int, _Part] = field(default_factory=dict)  # by the app's content index

    def item(self, status: str) -> dict[str, Any]:
        parts = sorted(self.parts.values(), key=lambda p: p.index)
        content = [_part(p.sent, p.kind) for p in parts]
        return {"id": self.item_id, "type": "message", "status": status, "role": "assistant", "content": content}


class ResponsesGate:
    """Reads the app's Responses events and writes a stream of its own: lifecycle events without text, message
    text only once checked (deltas re-sent by the gate), other items (tool calls, reasoning) whole once checked,
    and a final `response.completed` whose output is exactly what the client was sent."""

    def __init__(self, gate: TextGate) -> None:
        self.gate = gate
        self.sequence = 0
        self.response: dict[str, Any] = {}
        self.started = False
        self.next_index = 0
        self.messages: dict[int, _Message] = {}  # by the app's output index
        self.output: dict[int, dict[str, Any]] = {}  # finished items as sent, by our index
        self.current: tuple[int, int] | None = None  # (app output index, app content index) fed to the buffer
        # a part the app ended whose tail the detectors still hold: the next part of the same message and kind
        # continues it (SDKs join them: `jane.roe@exa` + `mple.com`), so its done events wait for that part
        self.deferred: tuple[int, int] | None = None
        self.ending: dict[str, Any] | None = None

    async def emit(self, event: dict[str, Any]) -> None:
        event["sequence_number"] = self.sequence
        self.sequence += 1
        await self.gate.write(event, event["type"])

    async def start(self, response: Any = None) -> None:
        if self.started:
            return
        self.started = True
        app = response if isinstance(response, dict) else {}
        self.response = {
            "id": _response_id(app),
            "object": "response",
            "created_at": app.get("created_at") if isinstance(app.get("created_at"), int) else int(time.time()),
            "model": app.get("model") if isinstance(app.get("model"), str) and is_metadata(app.get("model")) else "",
        }
        await self.emit(
            {
                "type": "response.created",
                "response": _REQUIRED | self.response | {"status": "in_progress", "output": []},
            }
        )

    async def handle(self, event: dict[str, Any]) -> bool:
        """One app event; False when the stream stops here (blocked)."""
        kind = event.get("type")
        if kind in _LIFECYCLE:
            await self.start(event.get("response"))
            return True
        await self.start()
        if kind == "error":
            self.gate.broken("the app sent an error event")
            return False
        if kind in _ENDINGS:
            self.ending = event
            return True
        index = event.get("output_index")
        if not isinstance(index, int) or isinstance(index, bool):
            return True  # not about an output item, and not one the gate knows: not sent
        if kind == "response.output_item.added":
            item = event.get("item")
            if isinstance(item, dict) and item.get("type") == "message":
                return await self._open_message(index, item)
            return True  # other items are sent whole, once done and checked
        if kind == "response.output_item.done":
            return await self._item_done(index, event.get("item"))
        message = self.messages.get(index)
        if message is None:
            return True
        content = event.get("content_index")
        if not isinstance(content, int) or isinstance(content, bool):
            return True
        if kind == "response.content_part.added":
            return await self._open_part(index, message, content, event.get("part"))
        for part_kind, (delta_event, done_event, _) in _TEXT_EVENTS.items():
            part = message.parts.get(content)
            if part is None or part.kind != part_kind:
                continue
            if kind == delta_event and isinstance(event.get("delta"), str):
                return await self._text(index, content, event["delta"])
            if kind == done_event:
                return await self._close_part(index, message, content)
        return True  # annotations and anything else about a message: not sent

    async def _open_message(self, index: int, item: dict[str, Any]) -> bool:
        if index in self.messages:
            return True
        given = item.get("id")
        item_id = given if isinstance(given, str) and is_metadata(given) else f"msg_guardrail{index}"
        message = _Message(item_id, self.next_index)
        self.next_index += 1
        self.messages[index] = message
        added = {"id": item_id, "type": "message", "status": "in_progress", "role": "assistant", "content": []}
        await self.emit({"type": "response.output_item.added", "output_index": message.index, "item": added})
        content = item.get("content")
        for i, part in enumerate(content if isinstance(content, list) else []):
            if not await self._open_part(index, message, i, part):
                return False
        return True

    async def _open_part(self, index: int, message: _Message, content: int, part: Any) -> bool:
        if content in message.parts or not isinstance(part, dict):
            return True
        kind = part.get("type")
        if kind not in _TEXT_EVENTS:
            return True  # e.g. audio: not a text the gate can check, not sent
        entry = _Part(str(kind), len(message.parts))
        message.parts[content] = entry
        ids = {"item_id": message.item_id, "output_index": message.index, "content_index": entry.index}
        await self.emit({"type": "response.content_part.added", **ids, "part": _part("", entry.kind)})
        text = part.get(_TEXT_EVENTS[entry.kind][2])
        return await self._text(index, content, text) if isinstance(text, str) and text else True

    async def _flush(self, final: bool, carry: bool = False) -> bool:
        """Release the buffered text of the part being fed."""
        if self.current is None:
            return True
        index, content = self.current
        text = await self.gate.release(final=final, carry=carry)
        if text is None:
            return False
        if final:
            self.current = None
        return await self._send(index, content, text)

    async def _send(self, index: int, content: int, text: str) -> bool:
        if text:
            message = self.messages[index]
            part = message.parts[content]
            part.sent += text
            ids = {"item_id": message.item_id, "output_index": message.index, "content_index": part.index}
            event: dict[str, Any] = {"type": _TEXT_EVENTS[part.kind][0], **ids, "delta": text}
            if part.kind == "output_text":
                event["logprobs"] = []
            await self.emit(event)
        return True

    async def _settle(self, joined: tuple[int, int] | None = None) -> bool:
        """End the deferred part: its held tail continues in `joined` (the next part of its message, same kind),
        or else is checked as the end of the text and sent in it; then its done events."""
        if self.deferred is None:
            return True
        index, content = self.deferred
        self.deferred = None
        message = self.messages[index]
        part = message.parts[content]
        if joined is None or joined[0] != index or message.parts[joined[1]].kind != part.kind:
            text = await self.gate.settle()
            if text is None or not await self._send(index, content, text):
                return False
        await self._part_done(message, part)
        return True

    async def _text(self, index: int, content: int, delta: str) -> bool:
        if self.messages[index].parts[content].done:
            return True  # text after the part ended: never sent
        if not await self._settle((index, content)):
            return False
        if self.current != (index, content) and not await self._flush(final=True):
            return False
        self.current = (index, content)
        return await self._flush(final=False) if self.gate.feed(delta) else True

    async def _close_part(self, index: int, message: _Message, content: int) -> bool:
        part = message.parts[content]
        if part.done:
            return True
        part.done = True
        if self.current == (index, content):
            if not await self._settle() or not await self._flush(final=True, carry=True):
                return False
            self.deferred = (index, content)  # done events once the next event shows whether text continues it
            return True
        return await self._settle() and await self._part_done(message, part)

    async def _part_done(self, message: _Message, part: _Part) -> bool:
        part.closed = True
        ids = {"item_id": message.item_id, "output_index": message.index, "content_index": part.index}
        done_event, field_name = _TEXT_EVENTS[part.kind][1], _TEXT_EVENTS[part.kind][2]
        done: dict[str, Any] = {"type": done_event, **ids, field_name: part.sent}
        if part.kind == "output_text":
            done["logprobs"] = []
        await self.emit(done)
        await self.emit({"type": "response.content_part.done", **ids, "part": _part(part.sent, part.kind)})
        return True

    async def _item_done(self, index: int, item: Any) -> bool:
        message = self.messages.get(index)
        if message is not None:
            for content in list(message.parts):
                if not await self._close_part(index, message, content):
                    return False
            if not await self._settle():
                return False
            status = item.get("status") if isinstance(item, dict) else None
            status = status if status in ("completed", "incomplete") else "completed"
            done = message.item(str(status))
            self.output[message.index] = done
            del self.messages[index]
            await self.emit({"type": "response.output_item.done", "output_index": message.index, "item": done})
            return True
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            return True
        return await self._whole_item(item)

    async def _whole_item(self, item: dict[str, Any]) -> bool:
        """A finished non-message item (tool call, reasoning, ...): checked whole, then sent whole."""
        found = read({"output": [item]}, self.gate.request)
        if found.raw_arguments and not await self.gate.check_tools(found.raw_arguments):
            return False
        if not await self.gate.check_text(found.answers) or not await self.gate.check_sent(item):
            return False
        ours = self.next_index
        self.next_index += 1
        kind = item["type"]
        added = dict(item, status="in_progress")
        if kind in _TOOL_CALLS:
            added[_TOOL_CALLS[kind]] = ""
        await self.emit({"type": "response.output_item.added", "output_index": ours, "item": added})
        if kind == "function_call" and isinstance(item.get("arguments"), str):
            ids = {"item_id": item.get("id", ""), "output_index": ours}
            arguments = item["arguments"]
            await self.emit({"type": "response.function_call_arguments.delta", **ids, "delta": arguments})
            await self.emit({"type": "response.function_call_arguments.done", **ids, "arguments": arguments})
        self.output[ours] = item
        await self.emit({"type": "response.output_item.done", "output_index": ours, "item": item})
        return True

    async def finish(self) -> bool:
        """The app's stream ended: the rest of the text, open items, the text outside the output."""
        await self.start()
        if not await self._flush(final=True) or not await self._settle():
            return False
        for index in list(self.messages):
            if not await self._item_done(index, None):
                return False
        final = self.ending.get("response") if isinstance(self.ending, dict) else None
        if isinstance(final, dict):
            rest = {k: v for k, v in final.items() if k not in ("output", "guardrail")}
            outside = prose(rest, request_texts(self.gate.request))
            if not await self.gate.check_text(["\n".join(outside)] if outside else []):
                return False
            if not await self.gate.check_sent(rest):  # forwarded in the final event: detectors read it all
                return False
        return True

    async def end(self, stopped: bool, verdict: dict[str, Any]) -> None:
        """The closing events: every open item closed with what was sent, then completed (or incomplete)."""
        for index, message in list(self.messages.items()):
            for part in message.parts.values():
                if part.closed:
                    continue
                ids = {"item_id": message.item_id, "output_index": message.index, "content_index": part.index}
                done_event, field_name = _TEXT_EVENTS[part.kind][1], _TEXT_EVENTS[part.kind][2]
                await self.emit(
                    {"type": done_event, **ids, field_name: part.sent}
                    | ({"logprobs": []} if part.kind == "output_text" else {})
                )
                await self.emit({"type": "response.content_part.done", **ids, "part": _part(part.sent, part.kind)})
                part.done = True
            done = message.item("incomplete")
            self.output[message.index] = done
            await self.emit({"type": "response.output_item.done", "output_index": message.index, "item": done})
            del self.messages[index]
        output = [self.output[i] for i in sorted(self.output)]
        final = self.ending.get("response") if isinstance(self.ending, dict) and not stopped else None
        body = dict(final) if isinstance(final, dict) else {}
        body.pop("guardrail", None)
        body = _REQUIRED | body | self.response | {"output": output, "guardrail": verdict}
        ending = self.ending.get("type") if isinstance(self.ending, dict) else "response.completed"
        if stopped:
            ending = "response.incomplete"
            body |= {"status": "incomplete", "incomplete_details": {"reason": "content_filter"}}
        else:
            body.setdefault(
                "status",
                {"response.incomplete": "incomplete", "response.failed": "failed"}.get(str(ending), "completed"),
            )
        await self.emit({"type": ending, "response": body})


async def gate_stream(
    gate: TextGate, response: aiohttp.ClientResponse, limit: int, decided: Callable[[Assessment, bool], dict[str, Any]]
) -> None:
    """Run the app's Responses stream through `gate`, writing the checked stream; `decided(verdict, stopped)`
    records the verdict and returns the `guardrail` field of the last event."""
    await run_stream(gate, ResponsesGate(gate), response, limit, decided)


def blocked_body(message: str, model: str, guardrail: dict[str, Any], app: Any) -> dict[str, Any]:
    """A blocked non-streamed answer (the app's ids kept, its text not)."""
    return refusal(message, model, guardrail, metadata_only(app) if isinstance(app, dict) else None)
