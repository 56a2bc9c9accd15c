"""A scripted LLM app for the protocol tests: it answers each API in that API's own shape, as its official
server would, streamed or not.

Paths: `/v1/chat/completions`, `/v1/completions`, `/v1/responses`, `/v1/messages` (any other path answers like
chat completions). The answer text comes from the `x-scripted-answer` header: `grounded` (a passage of the
test knowledge base: passes), `marker` (the ungrounded marker sentence: blocked), `grounded-then-marker` (the
grounded sentence, then the marker: a stream blocked mid-way, after the client got the first sentence) or any
other URL-encoded text. `x-scripted-tool: <arguments JSON, URL-encoded>` answers with a tool call instead, its
arguments as given. `x-scripted-case` picks a misbehaviour (see `CASES`) for the adversarial tests.

Run: `python tests/integration/protocols/scripted_app.py --port N`. `GET /_seen` lists the `x-request-id` of
every request that reached the app; `GET /_last` returns the last request body it got.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from aiohttp import web

GROUNDED = "Refunds are paid to the original payment method within 14 days after we receive the returned item."
MARKER = "Our headquarters are located on the planet Mars and we sell tickets to the moon."
MARKER_TOKEN = "planet Mars"
SEEN: web.AppKey[list[str]] = web.AppKey("seen", list)
LAST: web.AppKey[list[Any]] = web.AppKey("last", list)
CASES = (
    "plain",  # the API's normal shape
    "marker-outside",  # a grounded answer, the marker in a field beside it (Responses, Messages)
    "marker-in-reasoning",  # a grounded answer after a reasoning item / thinking block holding the marker
    "deltas-disagree",  # stream: grounded deltas, the marker in the done/completed events' full text
    "no-start",  # stream: no response.created / message_start before the text
    "unreadable-event",  # stream: an event that is not JSON, after a grounded sentence
    "error-event",  # stream: the app's error event after a grounded sentence
)


def answer_text(request: web.Request) -> str:
    wanted = request.headers.get("x-scripted-answer", "grounded")
    named = {"grounded": GROUNDED, "marker": MARKER, "grounded-then-marker": f"{GROUNDED} {MARKER}"}
    return named.get(wanted, unquote(wanted))


def pieces(text: str, step: int = 9) -> list[str]:
    return [text[i : i + step] for i in range(0, len(text), step)]


def data(obj: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(obj)}\n\n".encode()


# --- chat completions and completions


def chat_body(text: str, tool: str | None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    finish = "stop"
    if tool is not None:
        call = {"id": "call_1", "type": "function", "function": {"name": "lookup_order", "arguments": tool}}
        message, finish = {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "scripted",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 10, "total_tokens": 15},
    }


def chat_events(text: str, tool: str | None) -> list[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        body = {"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 1, "model": "scripted"}
        return data(body | {"choices": [choice]})

    events = [chunk({"role": "assistant", "content": ""})]
    if tool is not None:
        first = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "lookup_order", "arguments": ""}}
        events.append(chunk({"tool_calls": [first]}))
        events += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}) for p in pieces(tool)]
        return [*events, chunk({}, "tool_calls"), b"data: [DONE]\n\n"]
    events += [chunk({"content": p}) for p in pieces(text)]
    return [*events, chunk({}, "stop"), b"data: [DONE]\n\n"]


def completion_body(text: str) -> dict[str, Any]:
    return {
        "id": "cmpl-scripted",
        "object": "text_completion",
        "created": int(time.time()),
        "model": "scripted",
        "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 10, "total_tokens": 15},
    }


def completion_events(text: str) -> list[bytes]:
    def chunk(piece: str, finish: str | None = None) -> bytes:
        choice = {"index": 0, "text": piece, "finish_reason": finish, "logprobs": None}
        return data(
            {"id": "cmpl-scripted", "object": "text_completion", "created": 1, "model": "scripted", "choices": [choice]}
        )

    return [*(chunk(p) for p in pieces(text)), chunk("", "stop"), b"data: [DONE]\n\n"]


# --- the Responses API


def _response(status: str, output: list[dict[str, Any]], instructions: Any, **extra: Any) -> dict[str, Any]:
    return {
        "id": "resp_scripted",
        "object": "response",
        "created_at": 1_700_000_000,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": instructions,
        "model": "scripted",
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "temperature": 1.0,
        "top_p": 1.0,
        "text": {"format": {"type": "text"}},
        "usage": {
            "input_tokens": 5,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 10,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 15,
        },
        "metadata": {},
        **extra,
    }


def _message_item(text: str, status: str = "completed") -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": []}] if status == "completed" else []
    return {"id": "msg_scripted", "type": "message", "status": status, "role": "assistant", "content": content}


def _call_item(arguments: str, status: str = "completed") -> dict[str, Any]:
    return {
        "id": "fc_scripted",
        "type": "function_call",
        "status": status,
        "call_id": "call_1",
        "name": "lookup_order",
        "arguments": arguments,
    }


_REASONING = {"id": "rs_scripted", "type": "reasoning", "summary": [{"type": "summary_text", "text": MARKER}]}


def responses_body(text: str, tool: str | None, case: str, instructions: Any) -> dict[str, Any]:
    output = [_call_item(tool)] if tool is not None else [_message_item(text)]
    if case == "marker-in-reasoning":
        output.insert(0, _REASONING)
    extra = {"metadata": {"note": MARKER}} if case == "marker-outside" else {}
    return _response("completed", output, instructions, **extra)


def responses_events(text: str, tool: str | None, case: str, instructions: Any) -> list[bytes]:
    seq = iter(range(10_000))

    def ev(obj: dict[str, Any]) -> bytes:
        return data(obj | {"sequence_number": next(seq)}, obj["type"])

    events = []
    if case != "no-start":
        events += [
            ev({"type": "response.created", "response": _response("in_progress", [], instructions)}),
            ev({"type": "response.in_progress", "response": _response("in_progress", [], instructions)}),
        ]
    at = 0
    if case == "marker-in-reasoning":
        events += [
            ev({"type": "response.output_item.added", "output_index": 0, "item": _REASONING | {"summary": []}}),
            ev({"type": "response.output_item.done", "output_index": 0, "item": _REASONING}),
        ]
        at = 1
    final: list[dict[str, Any]] = [_REASONING] if at else []
    if tool is not None:
        ids = {"item_id": "fc_scripted", "output_index": at}
        events.append(
            ev({"type": "response.output_item.added", "output_index": at, "item": _call_item("", "in_progress")})
        )
        events += [ev({"type": "response.function_call_arguments.delta", **ids, "delta": p}) for p in pieces(tool)]
        events.append(ev({"type": "response.function_call_arguments.done", **ids, "arguments": tool}))
        events.append(ev({"type": "response.output_item.done", "output_index": at, "item": _call_item(tool)}))
        final.append(_call_item(tool))
    else:
        ids = {"item_id": "msg_scripted", "output_index": at, "content_index": 0}
        shown = MARKER if case == "deltas-disagree" else text
        events.append(
            ev({"type": "response.output_item.added", "output_index": at, "item": _message_item("", "in_progress")})
        )
        events.append(
            ev(
                {
                    "type": "response.content_part.added",
                    **ids,
                    "part": {"type": "output_text", "text": "", "annotations": []},
                }
            )
        )
        sentences = pieces(text)
        half = len(sentences) // 2
        for n, p in enumerate(sentences):
            if n == half and case == "unreadable-event":
                events.append(b"event: response.output_text.delta\ndata: {not json at all\n\n")
            if n == half and case == "error-event":
                events.append(
                    ev({"type": "error", "code": "server_error", "message": "the model crashed", "param": None})
                )
            events.append(ev({"type": "response.output_text.delta", **ids, "delta": p, "logprobs": []}))
        events.append(ev({"type": "response.output_text.done", **ids, "text": shown, "logprobs": []}))
        part = {"type": "output_text", "text": shown, "annotations": []}
        events.append(ev({"type": "response.content_part.done", **ids, "part": part}))
        events.append(ev({"type": "response.output_item.done", "output_index": at, "item": _message_item(shown)}))
        final.append(_message_item(shown))
    extra = {"metadata": {"note": MARKER}} if case == "marker-outside" else {}
    events.append(ev({"type": "response.completed", "response": _response("completed", final, instructions, **extra)}))
    return events


# --- the Messages API


def messages_body(text: str, tool: str | None, case: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": text}]
    stop = "end_turn"
    if tool is not None:
        content = [{"type": "tool_use", "id": "toolu_scripted", "name": "lookup_order", "input": json.loads(tool)}]
        stop = "tool_use"
    if case == "marker-in-reasoning":
        content.insert(0, {"type": "thinking", "thinking": MARKER, "signature": "c2lnbmF0dXJl"})
    body = {
        "id": "msg_scripted",
        "type": "message",
        "role": "assistant",
        "model": "scripted",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 10},
    }
    if case == "marker-outside":
        body["container"] = {"id": "container_1", "note": MARKER}
    return body


def messages_events(text: str, tool: str | None, case: str) -> list[bytes]:
    def ev(obj: dict[str, Any]) -> bytes:
        return data(obj, obj["type"])

    start = messages_body("", None, "plain") | {"content": [], "stop_reason": None}
    events = [] if case == "no-start" else [ev({"type": "message_start", "message": start})]
    index = 0
    if case == "marker-in-reasoning":
        events += [
            ev(
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                }
            ),
            ev({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": MARKER}}),
            ev({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "c2ln"}}),
            ev({"type": "content_block_stop", "index": 0}),
        ]
        index = 1
    stop = "end_turn"
    if tool is not None:
        block = {"type": "tool_use", "id": "toolu_scripted", "name": "lookup_order", "input": {}}
        events.append(ev({"type": "content_block_start", "index": index, "content_block": block}))
        events += [
            ev(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": p},
                }
            )
            for p in pieces(tool)
        ]
        events.append(ev({"type": "content_block_stop", "index": index}))
        stop = "tool_use"
    else:
        events.append(
            ev({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})
        )
        events.append(ev({"type": "ping"}))
        sentences = pieces(text)
        half = len(sentences) // 2
        for n, p in enumerate(sentences):
            if n == half and case == "unreadable-event":
                events.append(b"event: content_block_delta\ndata: {not json at all\n\n")
            if n == half and case == "error-event":
                events.append(ev({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))
            events.append(
                ev({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": p}})
            )
        events.append(ev({"type": "content_block_stop", "index": index}))
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": stop, "stop_sequence": None},
        "usage": {"output_tokens": 10},
    }
    if case == "marker-outside":
        delta["delta"]["note"] = MARKER
    events += [ev(delta), ev({"type": "message_stop"})]
    return events


# --- the server


async def _sse(request: web.Request, events: list[bytes]) -> web.StreamResponse:
    out = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await out.prepare(request)
    for event in events:
        await out.write(event)
    await out.write_eof()
    return out


async def answer(request: web.Request) -> web.StreamResponse:
    raw = await request.read()
    request.app[SEEN].append(request.headers.get("x-request-id", ""))
    try:
        body = json.loads(raw)
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    request.app[LAST][:] = [body]
    text = answer_text(request)
    tool = request.headers.get("x-scripted-tool")
    tool = unquote(tool) if tool is not None else None
    case = request.headers.get("x-scripted-case", "plain")
    stream = body.get("stream") is True
    path = request.path.rstrip("/")
    builders: dict[str, tuple[Callable[[], Any], Callable[[], list[bytes]]]] = {
        "/v1/completions": (lambda: completion_body(text), lambda: completion_events(text)),
        "/v1/responses": (
            lambda: responses_body(text, tool, case, body.get("instructions")),
            lambda: responses_events(text, tool, case, body.get("instructions")),
        ),
        "/v1/messages": (lambda: messages_body(text, tool, case), lambda: messages_events(text, tool, case)),
    }
    whole, streamed = builders.get(path, (lambda: chat_body(text, tool), lambda: chat_events(text, tool)))
    if stream:
        return await _sse(request, streamed())
    return web.json_response(whole())


async def seen(request: web.Request) -> web.Response:
    return web.json_response(request.app[SEEN])


async def last(request: web.Request) -> web.Response:
    return web.json_response(request.app[LAST][0] if request.app[LAST] else None)


def build_app() -> web.Application:
    app = web.Application()
    app[SEEN] = []
    app[LAST] = []
    app.router.add_get("/_seen", seen)
    app.router.add_get("/_last", last)
    app.router.add_route("*", "/{tail:.*}", answer)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(build_app(), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
