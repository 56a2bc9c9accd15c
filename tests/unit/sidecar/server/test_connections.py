"""The connection guard on a real loopback server: cap, header/idle/body/request deadlines (short ones here)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from guardrail_devcluster.cluster import free_port
from guardrail_sidecar.errors import RequestError
from guardrail_sidecar.server.connections import LINGER, MAX_HEAD_BYTES, ConnectionGuard, GuardedSite, Limits
from guardrail_sidecar.server.http import error_response, read_bounded

LIMITS = Limits(header=0.5, idle=1.5, body_read=0.5, request=1.0, max_connections=4)
GET = b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"


async def _handler(request: web.Request) -> web.StreamResponse:
    if request.path == "/slow":
        await asyncio.sleep(30)
    try:
        body = await read_bounded(request, 1 << 20, LIMITS.body_read)
    except RequestError as exc:
        response = error_response(exc.status, exc.code, exc.message)
        response.force_close()
        return response
    return web.json_response({"ok": True, "bytes": len(body)})


Server = tuple[int, ConnectionGuard]


@pytest.fixture
async def server() -> AsyncIterator[Callable[..., Any]]:
    runners: list[web.AppRunner] = []

    async def start(limits: Limits = LIMITS) -> Server:
        app = web.Application()
        guard = ConnectionGuard(limits)
        guard.install(app)
        app.router.add_route("*", "/{tail:.*}", _handler)
        runner = web.AppRunner(app, keepalive_timeout=30, lingering_time=LINGER)  # as main.serve
        await runner.setup()
        runners.append(runner)
        port = free_port()
        await GuardedSite(runner, "127.0.0.1", port, guard, backlog=128).start()
        return port, guard

    yield start
    for runner in runners:
        await runner.cleanup()


async def _connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def _until_closed(reader: asyncio.StreamReader, limit: float = 10.0) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and how long that took."""
    started = time.monotonic()
    data = await asyncio.wait_for(reader.read(-1), limit)
    return data, time.monotonic() - started


def _error_code(data: bytes) -> str:
    _, _, body = data.partition(b"\r\n\r\n")
    code: str = json.loads(body)["error"]["code"]
    return code


async def test_a_silent_connection_is_closed_after_the_header_timeout(server: Callable[..., Any]) -> None:
    port, guard = await server()
    reader, _ = await _connect(port)
    data, took = await _until_closed(reader)
    assert data == b""
    assert 0.3 < took < 3.0
    assert guard.closed == {"header_timeout": 1}
    assert guard.open == 0


async def test_headers_sent_a_byte_at_a_time_get_408(server: Callable[..., Any]) -> None:
    port, _ = await server()
    reader, writer = await _connect(port)

    async def trickle() -> None:
        for byte in b"GET /ok HTTP/1.1\r\nX-Slow: " + b"a" * 100:
            writer.write(bytes([byte]))
            await asyncio.sleep(0.05)

    task = asyncio.create_task(trickle())
    data, took = await _until_closed(reader)
    task.cancel()
    assert data.startswith(b"HTTP/1.1 408")
    assert _error_code(data) == "header_timeout"
    assert took < 3.0


async def test_a_kept_alive_connection_is_closed_after_the_idle_timeout(server: Callable[..., Any]) -> None:
    port, guard = await server()
    reader, writer = await _connect(port)
    writer.write(GET)
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    await reader.readexactly(int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0]))
    writer.write(GET)  # the connection is reused, and its deadline restarts after each answer
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
    _, took = await _until_closed(reader)
    assert LIMITS.header < took < LIMITS.idle + 2.0  # idle, not the (shorter) header timeout
    assert guard.closed == {"idle_timeout": 1}


async def test_a_slow_body_gets_408(server: Callable[..., Any]) -> None:
    port, _ = await server()
    reader, writer = await _connect(port)
    writer.write(b"POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
    data, took = await _until_closed(reader)
    assert data.startswith(b"HTTP/1.1 408")
    assert _error_code(data) == "body_timeout"
    assert took < LIMITS.body_read + LINGER + 1.5  # the unread rest of the body is awaited LINGER at most


async def test_a_request_over_its_deadline_gets_504(server: Callable[..., Any]) -> None:
    port, guard = await server()
    reader, writer = await _connect(port)
    writer.write(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    data, took = await _until_closed(reader)
    assert data.startswith(b"HTTP/1.1 504")
    assert _error_code(data) == "request_timeout"
    assert took < 3.0
    assert guard.closed.get("request_timeout") == 1


async def test_connections_over_the_cap_get_503_and_a_freed_slot_is_reused(server: Callable[..., Any]) -> None:
    port, guard = await server(Limits(header=5, idle=5, body_read=5, request=5, max_connections=3))
    held = [await _connect(port) for _ in range(3)]
    await asyncio.sleep(0.1)
    reader, _ = await _connect(port)
    data, _ = await _until_closed(reader, 3.0)
    assert data.startswith(b"HTTP/1.1 503")
    assert _error_code(data) == "too_many_connections"
    assert guard.open == 3
    held[0][1].close()
    await asyncio.sleep(0.2)
    reader, writer = await _connect(port)
    writer.write(GET)
    assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3.0)).startswith(b"HTTP/1.1 200")


async def test_an_endless_request_head_gets_431(server: Callable[..., Any]) -> None:
    port, _ = await server()
    reader, writer = await _connect(port)
    writer.write(b"GET /ok HTTP/1.1\r\n" + b"X-Pad: " + b"a" * 4000 + b"\r\n")
    for _ in range(MAX_HEAD_BYTES // 4000 + 2):
        writer.write(b"X-Pad: " + b"a" * 4000 + b"\r\n")
    data, _ = await _until_closed(reader)
    assert data.startswith(b"HTTP/1.1 431") or data.startswith(b"HTTP/1.1 400")  # ours, or aiohttp's own


async def test_a_large_body_sent_with_its_head_is_not_taken_for_a_head(server: Callable[..., Any]) -> None:
    port, guard = await server()
    reader, writer = await _connect(port)
    body = b"x" * (MAX_HEAD_BYTES * 3)
    writer.write(b"POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
    assert head.startswith(b"HTTP/1.1 200")
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    assert json.loads(await reader.readexactly(length))["bytes"] == len(body)
    assert "head_too_large" not in guard.closed


def test_malformed_request_logs_are_dropped_and_server_faults_kept() -> None:
    import logging

    from aiohttp.http import HttpProcessingError

    from guardrail_sidecar.main import QuietClientErrors

    def record(exc: BaseException) -> logging.LogRecord:
        return logging.LogRecord(
            "aiohttp.server", logging.ERROR, "x", 1, "Error handling request", (), (type(exc), exc, None)
        )

    quiet = QuietClientErrors()
    assert not quiet.filter(record(HttpProcessingError(code=400, message="Invalid character in Content-Length")))
    assert quiet.filter(record(ValueError("a bug in the sidecar")))
