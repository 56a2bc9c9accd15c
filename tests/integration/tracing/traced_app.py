"""A scripted LLM app for the tracing tests: it records the trace headers of every request it gets and
answers with a grounded sentence followed by the adversarial harness's MARKER sentence: a chat completion
(as JSON, or streamed word by word with a final usage chunk) or an Anthropic Messages stream.

    python traced_app.py --port N      # GET /_seen: the trace headers received; POST /_reset forgets them
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from aiohttp import web

GROUNDED = "Refunds are paid to the original payment method within 14 days after we receive the returned item."
MARKER = "Our headquarters are located on the planet Mars and we sell tickets to the moon."
ANSWER = f"{GROUNDED} {MARKER}"
USAGE = {"prompt_tokens": 17, "completion_tokens": 37, "total_tokens": 54}
SEEN: web.AppKey[list[dict[str, str | None]]] = web.AppKey("seen", list)
TEMPLATE = {"id": "chatcmpl-traced", "object": "chat.completion.chunk", "created": 1, "model": "scripted-1"}


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = dict(TEMPLATE, choices=[{"index": 0, "delta": delta, "finish_reason": finish}])
    return f"data: {json.dumps(body)}\n\n".encode()


async def chat(request: web.Request) -> web.StreamResponse:
    request.app[SEEN].append({k: request.headers.get(k) for k in ("traceparent", "tracestate", "baggage")})
    body = await request.json()
    if not body.get("stream"):
        message = {"role": "assistant", "content": ANSWER}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        completion = dict(TEMPLATE, object="chat.completion", choices=[choice], usage=USAGE)
        return web.json_response(completion)
    out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await out.prepare(request)
    await out.write(_chunk({"role": "assistant"}))
    for word in re.findall(r"\S+\s*", ANSWER):
        await out.write(_chunk({"content": word}))
    await out.write(_chunk({}, "stop"))
    usage = dict(TEMPLATE, choices=[], usage=USAGE)
    await out.write(f"data: {json.dumps(usage)}\n\n".encode() + b"data: [DONE]\n\n")
    await out.write_eof()
    return out


def _event(obj: dict[str, Any]) -> bytes:
    return f"event: {obj['type']}\ndata: {json.dumps(obj)}\n\n".encode()


async def messages(request: web.Request) -> web.StreamResponse:
    """An Anthropic Messages stream: message_start, one text block word by word, message_delta, message_stop."""
    request.app[SEEN].append({k: request.headers.get(k) for k in ("traceparent", "tracestate", "baggage")})
    await request.json()
    out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await out.prepare(request)
    start: dict[str, Any] = {"id": "msg_traced", "type": "message", "role": "assistant", "model": "scripted-claude"}
    start |= {"content": []}
    start |= {"stop_reason": None, "usage": {"input_tokens": USAGE["prompt_tokens"], "output_tokens": 1}}
    await out.write(_event({"type": "message_start", "message": start}))
    await out.write(_event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}))
    for word in re.findall(r"\S+\s*", ANSWER):
        await out.write(
            _event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word}})
        )
    await out.write(_event({"type": "content_block_stop", "index": 0}))
    usage = {"output_tokens": USAGE["completion_tokens"]}
    await out.write(_event({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": usage}))
    await out.write(_event({"type": "message_stop"}))
    await out.write_eof()
    return out


async def seen(request: web.Request) -> web.Response:
    return web.json_response(request.app[SEEN])


async def reset(request: web.Request) -> web.Response:
    request.app[SEEN].clear()
    return web.json_response({})


def build() -> web.Application:
    app = web.Application()
    app[SEEN] = []
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/v1/messages", messages)
    app.router.add_get("/_seen", seen)
    app.router.add_post("/_reset", reset)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    web.run_app(build(), host="127.0.0.1", port=parser.parse_args().port, print=None)
