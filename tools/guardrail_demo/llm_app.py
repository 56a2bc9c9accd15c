"""A small scripted "LLM app" behind the sidecar: an OpenAI-style chat endpoint answering from `scenarios`.

`python -m guardrail_demo.llm_app --port N`. Streams (`stream: true`) are sent a few words at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from aiohttp import web

from guardrail_demo.scenarios import answer_for

WORDS_PER_CHUNK = 3
CHUNK_DELAY = 0.01


def completion(answer: str, model: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-demo-{time.time_ns():x}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
    }


def chunk(delta: dict[str, Any], model: str, finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-demo",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


def question_of(body: dict[str, Any]) -> str:
    """The last user message's text."""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user" and isinstance(message.get("content"), str):
            return str(message["content"])
    return ""


async def chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    model = str(body.get("model", "demo-llm"))
    answer = answer_for(question_of(body))
    if not body.get("stream"):
        return web.json_response(completion(answer, model))
    out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await out.prepare(request)
    await out.write(chunk({"role": "assistant", "content": ""}, model))
    words = answer.split(" ")
    for i in range(0, len(words), WORDS_PER_CHUNK):
        text = " ".join(words[i : i + WORDS_PER_CHUNK]) + (" " if i + WORDS_PER_CHUNK < len(words) else "")
        await out.write(chunk({"content": text}, model))
        await asyncio.sleep(CHUNK_DELAY)
    await out.write(chunk({}, model, finish="stop"))
    await out.write(b"data: [DONE]\n\n")
    await out.write_eof()
    return out


async def healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok")


def build_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/healthz", healthz)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="guardrail-demo-llm", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    web.run_app(build_app(), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
