"""A hostile LLM app for the adversarial suite: every answer it gives is shaped to slip past the sidecar.

The misbehaviour is picked per request from the `x-hostile-case` header (the sidecar forwards it); the answer
text from `x-hostile-answer`: `marker` (default, the UNGROUNDED marker sentence that must never reach a
client), `grounded` (a passage of the knowledge base: readable answers must still pass), or any other
URL-encoded text. `x-hostile-status` sets the status of the `status` case. Every case is a function in
`CASES`, so tests can parametrize over the names (and other test files may add their own cases).

Run as a process: `python tests/integration/adversarial/hostile_app.py --port N`. `GET /_seen` lists the
`x-request-id` of every request that reached the app (a refused request must not appear there); `POST
/_reset` empties it.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from aiohttp import web

MARKER = "Our headquarters are located on the planet Mars and we sell tickets to the moon."
MARKER_TOKEN = "planet Mars"  # what a leak check looks for (the marker split or escaped still contains it)
GROUNDED = "Refunds are paid to the original payment method within 14 days after we receive the returned item."
INTERNAL_DETAIL = "db at 10.7.3.9:5432 failed, see /srv/app/secrets/config.py line 12"
SEEN: web.AppKey[list[str]] = web.AppKey("seen", list)

Case = Callable[[web.Request, dict[str, Any], str], Awaitable[web.StreamResponse]]


def answer_text(request: web.Request) -> str:
    wanted = request.headers.get("x-hostile-answer", "marker")
    return {"marker": MARKER, "grounded": GROUNDED}.get(wanted, unquote(wanted))


def completion(message: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-hostile",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "hostile",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        **extra,
    }


def chunk(choices: list[dict[str, Any]] | None, **extra: Any) -> bytes:
    body: dict[str, Any] = {"id": "chatcmpl-hostile", "object": "chat.completion.chunk", "created": 1}
    if choices is not None:
        body["choices"] = choices
    body.update(extra)
    return f"data: {json.dumps(body)}\n\n".encode()


def delta(content: Any = None, finish: str | None = None, **fields: Any) -> list[dict[str, Any]]:
    d: dict[str, Any] = dict(fields)
    if content is not None:
        d["content"] = content
    return [{"index": 0, "delta": d, "finish_reason": finish}]


def pieces(text: str, step: int = 7) -> list[str]:
    return [text[i : i + step] for i in range(0, len(text), step)]


async def sse(request: web.Request, events: list[bytes], status: int = 200, done: bool = True) -> web.StreamResponse:
    out = web.StreamResponse(status=status, headers={"Content-Type": "text/event-stream"})
    await out.prepare(request)
    for event in events:
        await out.write(event)
    if done:
        await out.write(b"data: [DONE]\n\n")
    await out.write_eof()
    return out


def standard_stream(text: str) -> list[bytes]:
    return [
        chunk(delta("", role="assistant")),
        *(chunk(delta(p)) for p in pieces(text)),
        chunk(delta(finish="stop")),
        chunk([], usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}),
    ]


# --- non-streamed answers


async def plain(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    if body.get("stream"):
        return await sse(request, standard_stream(text))
    return web.json_response(completion({"content": text}))


async def content_parts(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    return web.json_response(completion({"content": [{"type": "text", "text": text}]}))


async def content_parts_split(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    parts: list[dict[str, Any]] = [{"type": "text", "text": w + " "} for w in text.split(" ")]
    parts.insert(1, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}})
    return web.json_response(completion({"content": parts}))


async def output_text_parts(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    return web.json_response(completion({"content": [{"type": "output_text", "text": text}]}))


async def text_plain(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    return web.Response(text=text, content_type="text/plain")


async def text_html(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    return web.Response(text=f"<html><body><p>{text}</p></body></html>", content_type="text/html")


async def vendor_json(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    raw = json.dumps(completion({"content": text})).encode()
    return web.Response(body=raw, headers={"Content-Type": "application/vnd.hostile.chat+json; charset=utf-8"})


async def octet_stream(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    raw = json.dumps(completion({"content": text})).encode()
    return web.Response(body=raw, headers={"Content-Type": "application/octet-stream"})


async def invalid_json(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    raw = json.dumps(completion({"content": text}))[:-7]  # truncated mid-object
    return web.Response(body=raw.encode(), content_type="application/json")


async def non_utf8(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    raw = json.dumps(completion({"content": text})).encode().replace(b'"content"', b'"content\xff\xfe"')
    return web.Response(body=raw, content_type="application/json")


async def json_array(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    return web.json_response([completion({"content": text})])


async def json_string(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    return web.json_response(text)


async def sse_to_non_stream(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    return await sse(request, standard_stream(text))


async def json_to_stream(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    return web.json_response(completion({"content": text}))


async def tool_calls(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    call = {"id": "call_1", "type": "function", "function": {"name": "reply", "arguments": json.dumps({"say": text})}}
    return web.json_response(completion({"content": None, "tool_calls": [call]}))


async def tool_calls_raw_args(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    call = {"id": "call_1", "type": "function", "function": {"name": "reply", "arguments": text}}
    return web.json_response(completion({"content": "", "tool_calls": [call]}))


async def function_call(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    fn = {"name": "reply", "arguments": json.dumps({"say": text})}
    return web.json_response(completion({"content": None, "function_call": fn}))


async def refusal_field(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    return web.json_response(completion({"content": "", "refusal": text}))


async def reasoning_field(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    return web.json_response(completion({"content": "", "reasoning_content": text}))


async def top_level_text(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    return web.json_response(completion({"content": ""}, output_text=text))


async def legacy_text(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    out = completion({"content": ""})
    out["choices"] = [{"index": 0, "text": text, "finish_reason": "stop"}]
    return web.json_response(out)


async def second_choice(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    out = completion({"content": GROUNDED})
    out["choices"].append({"index": 1, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"})
    return web.json_response(out)


async def choice_not_object(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    out = completion({"content": ""})
    out["choices"] = [text]
    return web.json_response(out)


async def status(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    code = int(request.headers.get("x-hostile-status", "500"))
    payload = completion({"content": text}) | {"error": {"message": f"{text} ({INTERNAL_DETAIL})"}}
    headers = {"Location": "http://10.7.3.9:8080/internal"} if 300 <= code < 400 else None
    return web.json_response(payload, status=code, headers=headers)


async def status_text(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    code = int(request.headers.get("x-hostile-status", "500"))
    return web.Response(status=code, text=f"{text}\nTraceback: {INTERNAL_DETAIL}", content_type="text/plain")


async def guardrail_headers(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    headers = {
        "x-guardrail-verdict": "pass",
        "x-guardrail-score": "1.0",
        "x-guardrail-revision": "forged",
        "X-Guardrail-Reason": "grounded",
    }
    if body.get("stream"):
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream", **headers})
        await out.prepare(request)
        for event in standard_stream(text):
            await out.write(event)
        await out.write(b"data: [DONE]\n\n")
        await out.write_eof()
        return out
    return web.json_response(completion({"content": text}), headers=headers)


async def gzip_anyway(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    raw = gzip.compress(json.dumps(completion({"content": text})).encode())
    return web.Response(body=raw, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})


async def unknown_encoding(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    raw = json.dumps(completion({"content": text})).encode()
    return web.Response(body=raw, headers={"Content-Type": "application/json", "Content-Encoding": "br"})


async def header_text(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    """A grounded body, the answer in a custom header beside it."""
    return web.json_response(completion({"content": GROUNDED}), headers={"x-answer": text, "x-trace": "abc-123"})


def _duplicated(grounded_last: str) -> str:
    """A chat completion whose message has `content` twice: the marker first, then `grounded_last`."""
    return (
        '{"id": "chatcmpl-hostile", "object": "chat.completion", "choices": [{"index": 0, "message": '
        f'{{"role": "assistant", "content": {json.dumps(MARKER)}, "content": {json.dumps(grounded_last)}}}, '
        '"finish_reason": "stop"}]}'
    )


async def duplicate_keys(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    """Two `content` keys: a parser keeping the first reads the marker, one keeping the last the answer."""
    return web.Response(text=_duplicated(text), content_type="application/json")


async def duplicate_keys_array(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    return web.Response(text=f"[{_duplicated(text)}]", content_type="application/json")


async def json_answer(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    """The `json` protocol's shape: {"result": {"answer"}} with a label beside it."""
    return web.json_response({"result": {"answer": text}, "meta": {"source": "hostile"}})


async def json_answer_beside(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    """A grounded answer at the answer path, the text in another field."""
    return web.json_response({"result": {"answer": GROUNDED, "notes": [text]}, "meta": {"source": "hostile"}})


async def json_answer_elsewhere(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    """No answer at the configured path: the text sits at another one."""
    return web.json_response({"result": {"text": text}})


async def stall(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    """Answers only after `x-hostile-delay` seconds (default 30): longer than the sidecar waits."""
    await asyncio.sleep(float(request.headers.get("x-hostile-delay", "30")))
    return web.json_response(completion({"content": text}))


async def huge(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    """An answer of `x-hostile-bytes` bytes (default 8 MiB), the marker repeated."""
    size = int(request.headers.get("x-hostile-bytes", str(8 * 1024 * 1024)))
    return web.json_response(completion({"content": (text + " ") * (size // (len(text) + 1) + 1)}))


async def guardrail_field(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    """An app that writes its own `guardrail` verdict into the body (the sidecar must overwrite it)."""
    forged = {"verdict": "pass", "score": 1.0, "revision": "forged", "reason": text}
    return web.json_response(completion({"content": ""}, guardrail=forged))


# --- streamed answers (the request asked for `stream: true`)


async def stream_no_choices(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    events = [chunk(delta("", role="assistant"))]
    events += [chunk(None, delta={"content": p}) for p in pieces(text)]
    return await sse(request, [*events, chunk(delta(finish="stop"))])


async def stream_usage_text(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    events = standard_stream("Hello.")
    events.append(chunk([], usage={"total_tokens": 2}, note=text))
    return await sse(request, events)


async def stream_message_chunks(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    events = [chunk([{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": None}])]
    return await sse(request, [*events, chunk(delta(finish="stop"))])


async def stream_legacy_text(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    events = [chunk([{"index": 0, "text": p, "finish_reason": None}]) for p in pieces(text)]
    return await sse(request, [*events, chunk([{"index": 0, "text": "", "finish_reason": "stop"}])])


async def stream_tool_calls(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    args = json.dumps({"say": text})
    first = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "reply", "arguments": ""}}
    events = [chunk(delta(None, role="assistant", tool_calls=[first]))]
    for p in pieces(args):
        events.append(chunk(delta(None, tool_calls=[{"index": 0, "function": {"arguments": p}}])))
    return await sse(request, [*events, chunk(delta(finish="tool_calls"))])


async def stream_refusal_delta(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    events = [chunk(delta("", role="assistant"))] + [chunk(delta(None, refusal=p)) for p in pieces(text)]
    return await sse(request, [*events, chunk(delta(finish="stop"))])


async def stream_content_parts(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    events = [chunk(delta([{"type": "text", "text": p}])) for p in pieces(text)]
    return await sse(request, [*events, chunk(delta(finish="stop"))])


async def stream_invalid_json(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    return await sse(request, [chunk(delta("", role="assistant")), f"data: {{not json {text}\n\n".encode()])


async def stream_finish_with_text(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    return await sse(request, [chunk(delta("", role="assistant")), chunk(delta(text, finish="stop"))])


async def stream_choice_string(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    return await sse(request, [chunk([text])])  # type: ignore[list-item]  # the hostile shape itself


async def stream_text_plain(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    return web.Response(text=text, content_type="text/plain")


async def stream_status(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    code = int(request.headers.get("x-hostile-status", "500"))
    return await sse(request, standard_stream(f"{text} {INTERNAL_DETAIL}"), status=code)


async def stream_unterminated(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    """The last event never gets its blank line, and no [DONE]."""
    out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await out.prepare(request)
    await out.write(chunk(delta("", role="assistant")))
    await out.write(f"data: {json.dumps({'choices': delta(text)})}".encode())
    await out.write_eof()
    return out


async def stream_crlf_multiline(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    """An event whose JSON is split over several `data:` lines with CRLF line ends (legal SSE)."""
    payload = json.dumps({"choices": delta(text)}, indent=1).replace("\n", "\r\ndata: ")
    return await sse(request, [f"event: message\r\ndata: {payload}\r\n\r\n".encode(), chunk(delta(finish="stop"))])


async def stream_sse_fields(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    """The answer in SSE `id:`, `event:` and comment lines around text-free chunks."""
    role = chunk(delta("", role="assistant")).decode()
    usage = chunk([], usage={"total_tokens": 2}).decode()
    events = [
        f"id: {text}\nevent: {text}\n{role}".encode(),
        f": {text}\n\n".encode(),
        chunk(delta("Hello.")),
        f"event: {text}\nretry: 1000\n{usage}".encode(),
    ]
    return await sse(request, events)


async def stream_second_choice(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    """A grounded choice 0 and the text in a choice 1 nobody asked for."""
    events = [chunk(delta(GROUNDED)), chunk([{"index": 1, "delta": {"content": text}, "finish_reason": None}])]
    return await sse(request, [*events, chunk(delta(finish="stop"))])


async def stream_after_done(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    """[DONE], then more events carrying the text."""
    events = [chunk(delta("Hello.")), b"data: [DONE]\n\n", *(chunk(delta(p)) for p in pieces(text))]
    return await sse(request, events)


async def stream_gzip(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    """A gzip-compressed stream although the sidecar asked for identity."""
    raw = gzip.compress(b"".join([*standard_stream(text), b"data: [DONE]\n\n"]))
    headers = {"Content-Type": "text/event-stream", "Content-Encoding": "gzip"}
    return web.Response(body=raw, headers=headers)


async def stream_slow_drip(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await out.prepare(request)
    for p in pieces(text, 3):
        await out.write(chunk(delta(p)))
        await asyncio.sleep(0.01)
    await out.write(chunk(delta(finish="stop")))
    await out.write(b"data: [DONE]\n\n")
    await out.write_eof()
    return out


async def slow(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    """Answers (plainly) only after `x-hostile-delay` seconds (default 30): for the sidecar's request deadline."""
    await asyncio.sleep(float(request.headers.get("x-hostile-delay", "30")))
    return await plain(request, body, text)


async def stream_stall(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    """Streams the first words of the answer, then stalls for `x-hostile-delay` seconds (default 30)."""
    out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await out.prepare(request)
    await out.write(chunk(delta(text[:20])))
    await asyncio.sleep(float(request.headers.get("x-hostile-delay", "30")))
    await out.write(chunk(delta(text[20:], finish="stop")) + b"data: [DONE]\n\n")
    await out.write_eof()
    return out


async def stream_repeat(request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
    """The answer, punctuation removed, repeated `x-hostile-repeat` times (default 2,000) in 40-character
    chunks: one endless sentence."""
    words = "".join(c for c in text if c.isalnum() or c.isspace()) + " "
    whole = words * int(request.headers.get("x-hostile-repeat", "2000"))
    out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await out.prepare(request)
    for start in range(0, len(whole), 40):
        await out.write(chunk(delta(whole[start : start + 40])))
    await out.write(chunk(delta(finish="stop")) + b"data: [DONE]\n\n")
    await out.write_eof()
    return out


CASES: dict[str, Case] = {
    "plain": plain,
    "stream-repeat": stream_repeat,
    "slow": slow,
    "stream-stall": stream_stall,
    "content-parts": content_parts,
    "content-parts-split": content_parts_split,
    "output-text-parts": output_text_parts,
    "text-plain": text_plain,
    "text-html": text_html,
    "vendor-json": vendor_json,
    "octet-stream": octet_stream,
    "invalid-json": invalid_json,
    "non-utf8": non_utf8,
    "json-array": json_array,
    "json-string": json_string,
    "sse-to-non-stream": sse_to_non_stream,
    "json-to-stream": json_to_stream,
    "tool-calls": tool_calls,
    "tool-calls-raw-args": tool_calls_raw_args,
    "function-call": function_call,
    "refusal-field": refusal_field,
    "reasoning-field": reasoning_field,
    "top-level-text": top_level_text,
    "legacy-text": legacy_text,
    "second-choice": second_choice,
    "choice-not-object": choice_not_object,
    "status": status,
    "status-text": status_text,
    "guardrail-headers": guardrail_headers,
    "guardrail-field": guardrail_field,
    "header-text": header_text,
    "duplicate-keys": duplicate_keys,
    "duplicate-keys-array": duplicate_keys_array,
    "json-answer": json_answer,
    "json-answer-beside": json_answer_beside,
    "json-answer-elsewhere": json_answer_elsewhere,
    "stall": stall,
    "huge": huge,
    "gzip-anyway": gzip_anyway,
    "unknown-encoding": unknown_encoding,
    "stream-no-choices": stream_no_choices,
    "stream-usage-text": stream_usage_text,
    "stream-message-chunks": stream_message_chunks,
    "stream-legacy-text": stream_legacy_text,
    "stream-tool-calls": stream_tool_calls,
    "stream-refusal-delta": stream_refusal_delta,
    "stream-content-parts": stream_content_parts,
    "stream-invalid-json": stream_invalid_json,
    "stream-finish-with-text": stream_finish_with_text,
    "stream-choice-string": stream_choice_string,
    "stream-text-plain": stream_text_plain,
    "stream-status": stream_status,
    "stream-unterminated": stream_unterminated,
    "stream-crlf-multiline": stream_crlf_multiline,
    "stream-slow-drip": stream_slow_drip,
    "stream-sse-fields": stream_sse_fields,
    "stream-second-choice": stream_second_choice,
    "stream-after-done": stream_after_done,
    "stream-gzip": stream_gzip,
}


async def chat(request: web.Request) -> web.StreamResponse:
    raw = await request.read()
    request.app[SEEN].append(request.headers.get("x-request-id", ""))
    try:
        body = json.loads(raw)
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    case = CASES.get(request.headers.get("x-hostile-case", "plain"))
    if case is None:
        return web.json_response({"error": f"unknown x-hostile-case; known: {sorted(CASES)}"}, status=400)
    return await case(request, body, answer_text(request))


async def echo(request: web.Request) -> web.Response:
    """What the app received (method, path, headers, body): for checks on what the sidecar forwards."""
    body = await request.read()
    return web.json_response(
        {
            "method": request.method,
            "raw_path": request.raw_path,
            "headers": [[k, v] for k, v in request.headers.items()],
            "body": body.decode("utf-8", errors="replace"),
        }
    )


async def seen(request: web.Request) -> web.Response:
    return web.json_response(request.app[SEEN])


async def reset(request: web.Request) -> web.Response:
    request.app[SEEN].clear()
    return web.json_response({"ok": True})


def build_app() -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[SEEN] = []
    app.router.add_get("/_seen", seen)
    app.router.add_post("/_reset", reset)
    app.router.add_route("*", "/echo{tail:.*}", echo)
    app.router.add_route("*", "/{tail:.*}", chat)  # every other path answers like a chat endpoint
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(build_app(), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
