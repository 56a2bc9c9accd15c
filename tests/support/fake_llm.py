"""A small real HTTP server standing in for an LLM app: scripted answers, streams, and echo endpoints.

The answer is taken from the `x-fake-answer` header (URL-encoded), so each test scripts its own. Run
in-process with `build_app()` or as a process: `python tests/support/fake_llm.py --port N`.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import time
from typing import Any
from urllib.parse import unquote

from aiohttp import web

SEEN: web.AppKey[list[str]] = web.AppKey("seen", list)
DEFAULT_ANSWER = "Hello."


def _answer(request: web.Request) -> str:
    return unquote(request.headers.get("x-fake-answer", DEFAULT_ANSWER))


def _completion(answer: str, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def _chunk(delta: dict[str, Any], finish: str | None = None, usage: bool = False) -> bytes:
    body: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "fake",
    }
    body["choices"] = [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}]
    if usage:
        body["usage"] = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    return f"data: {json.dumps(body)}\n\n".encode()


async def chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    request.app[SEEN].append(request.headers.get("x-request-id", ""))
    answer = _answer(request)
    if request.headers.get("x-fake-status"):
        return web.json_response({"error": "scripted"}, status=int(request.headers["x-fake-status"]))
    if not body.get("stream"):
        return web.json_response(_completion(answer, body.get("model", "fake")))
    step = int(request.headers.get("x-fake-chunk", "7"))
    delay = float(request.headers.get("x-fake-delay-ms", "0")) / 1000
    out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await out.prepare(request)
    await out.write(_chunk({"role": "assistant", "content": ""}))
    for i in range(0, len(answer), step):
        await out.write(_chunk({"content": answer[i : i + step]}))
        if delay:
            await asyncio.sleep(delay)
    if request.headers.get("x-fake-garbage"):  # a broken stream: an unreadable event, then the end
        await out.write(b"data: {not json\n\n")
        await out.write_eof()
        return out
    await out.write(_chunk({}, finish="stop"))
    await out.write(_chunk({}, usage=True))
    await out.write(b"data: [DONE]\n\n")
    await out.write_eof()
    return out


async def ask(request: web.Request) -> web.Response:
    """The `json` protocol: {"question", "context"} in, {"result": {"answer"}} out."""
    await request.json()
    request.app[SEEN].append(request.headers.get("x-request-id", ""))
    return web.json_response({"result": {"answer": _answer(request)}, "meta": {"source": "fake"}})


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response(
        {
            "method": request.method,
            "path": request.path,
            "raw_path": request.raw_path,
            "headers": [[k, v] for k, v in request.headers.items()],
            "body": body.decode("utf-8", errors="replace"),
        },
        headers={"x-app-header": "kept", "Set-Cookie": "a=1"},
    )


async def status(request: web.Request) -> web.Response:
    code = int(request.match_info["code"])
    return web.Response(status=code, text=f"status {code}", headers={"x-app-status": str(code)})


async def compressed(_: web.Request) -> web.Response:
    return web.Response(
        body=gzip.compress(b"compressed body " * 50),
        headers={"Content-Encoding": "gzip"},
        content_type="text/plain",
    )


async def seen(request: web.Request) -> web.Response:
    return web.json_response(request.app[SEEN])


def build_app() -> web.Application:
    app = web.Application()
    app[SEEN] = []
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/ask", ask)
    app.router.add_route("*", "/echo{tail:.*}", echo)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/gzip", compressed)
    app.router.add_get("/_seen", seen)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(build_app(), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
