"""Client connection limits the HTTP server lacks: a connection cap, and header, idle and whole-request deadlines.

aiohttp closes a connection that stays idle for its keep-alive timeout, but nothing bounds how long a client may
take to send a request's headers once it has begun, and nothing caps the number of connections: a few hundred
slowloris clients (a byte every few seconds) would hold the server's sockets for ever. `ConnectionGuard` wraps
the server's protocol factory (so it sees every connection and every byte) and learns from a middleware when a
request is being handled:

- beyond `maxConnections` open connections, a new one is answered `503` and closed at once;
- a connection not handling a request is closed when its deadline passes: `timeouts.header` from its start or
  from the first byte of its next request, `timeouts.idle` after a finished response with nothing sent since;
  a request head larger than MAX_HEAD_BYTES is answered `431` and closed;
- a request in progress gets `timeouts.request` (the middleware answers 504 at that point when it still can;
  the guard closes the connection REQUEST_GRACE later in any case, e.g. a client that never reads the answer).

The body's deadline (`timeouts.bodyRead`) is enforced where the body is read (`http.read_bounded`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import web

from guardrail_contract.durations import duration_seconds
from guardrail_contract.sidecar_config import Proxy

log = logging.getLogger("guardrail.sidecar")
MAX_HEAD_BYTES = 64 * 1024  # request line + headers; aiohttp caps single lines at 8 KiB, not their number
_PREPARED = web.RequestKey("guardrail_response_prepared", bool)
REQUEST_GRACE = 2.0  # seconds after timeouts.request before a request's connection is closed regardless
LINGER = 2.0  # the server's lingering_time: after an error, what's left of a body is read this long (aiohttp: 10)
LINGER_GRACE = LINGER + 3.0  # after a `Connection: close` answer, the guard closes the connection regardless


@dataclass(frozen=True)
class Limits:
    """The limits in seconds (see `config.Timeouts`)."""

    header: float = 10.0
    idle: float = 30.0
    body_read: float = 30.0
    request: float = 120.0
    max_connections: int = 1024

    @classmethod
    def of(cls, proxy: Proxy) -> Limits:
        t = proxy.timeouts
        return cls(
            header=duration_seconds(t.header),
            idle=duration_seconds(t.idle),
            body_read=duration_seconds(t.body_read),
            request=duration_seconds(t.request),
            max_connections=proxy.max_connections,
        )


def _raw_response(status: int, reason: str, code: str, message: str) -> bytes:
    body = json.dumps({"error": {"message": message, "type": "guardrail_error", "code": code}}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


class ConnectionGuard:
    """A protocol factory around the server's: counts connections and enforces the limits on each.

    `closed` counts connections the guard closed, by reason (for tests and logs)."""

    def __init__(self, limits: Limits) -> None:
        self.factory: Callable[[], asyncio.BaseProtocol] | None = None  # the server's (set by `GuardedSite`)
        self.limits = limits
        self.open = 0
        self.closed: dict[str, int] = {}
        self._by_transport: dict[asyncio.BaseTransport, _Guarded] = {}

    def __call__(self) -> asyncio.Protocol:
        if self.factory is None:
            raise RuntimeError("ConnectionGuard.factory is not set: serve it through a GuardedSite")
        return _Guarded(self, self.factory())

    def install(self, app: web.Application) -> None:
        """Add the request-tracking middleware to `app` (before it starts)."""
        app.middlewares.append(limits_middleware(self))
        app.on_response_prepare.append(_mark_prepared)

    def count(self, reason: str) -> None:
        self.closed[reason] = self.closed.get(reason, 0) + 1

    def request_started(self, transport: asyncio.BaseTransport | None) -> None:
        if transport is not None and (conn := self._by_transport.get(transport)) is not None:
            conn.start_request()

    def request_finished(self, transport: asyncio.BaseTransport | None, closing: bool = False) -> None:
        """`closing`: the answer said `Connection: close` (the server only reads what's left of the body)."""
        if transport is not None and (conn := self._by_transport.get(transport)) is not None:
            conn.finish_request(closing)

    def _register(self, transport: asyncio.BaseTransport, conn: _Guarded) -> None:
        self.open += 1
        self._by_transport[transport] = conn

    def _unregister(self, transport: asyncio.BaseTransport) -> None:
        if self._by_transport.pop(transport, None) is not None:
            self.open -= 1


class _Guarded(asyncio.Protocol):
    """One client connection: forwards every protocol event to the server's protocol, and keeps a deadline."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.BaseProtocol) -> None:
        self._guard = guard
        self._inner: Any = inner  # aiohttp's RequestHandler (an asyncio.Protocol)
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._busy = 0  # requests being handled (aiohttp handles one at a time per connection)
        self._head_bytes = 0  # bytes since the last request finished: the next request's head
        self._refused = False
        self._closing = False
        self._head_done = False  # the current request's head has fully arrived
        self._tail = b""  # the head's last bytes so far (its end may span two reads)
        self._reason = "header"  # what the armed deadline is for

    # --- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # a stream transport (asyncio's or uvloop's)
        guard = self._guard
        if guard.open >= guard.limits.max_connections:
            self._refused = True
            guard.count("max_connections")
            message = f"the sidecar holds its maximum of {guard.limits.max_connections} connections; retry later"
            self._transport.write(_raw_response(503, "Service Unavailable", "too_many_connections", message))
            self._transport.close()
            return
        guard._register(transport, self)
        self._arm(guard.limits.header, "header")
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if not self._busy and not self._closing and not self._head_done:
            if self._head_bytes == 0 and self._reason == "idle":
                self._arm(self._guard.limits.header, "header")  # the next request has begun
            end = (self._tail + data).find(b"\r\n\r\n")
            if end >= 0:  # the head is complete: the rest is body, and the handler is about to start
                self._head_done = True
                self._head_bytes += end + 4 - len(self._tail)
                self._arm(self._guard.limits.request + REQUEST_GRACE, "request")
            else:
                self._head_bytes += len(data)
                self._tail = (self._tail + data)[-3:]
            if self._head_bytes > MAX_HEAD_BYTES:
                self._close("head_too_large", 431, "Request Header Fields Too Large")
                return
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        if self._refused:
            return None
        result: bool | None = self._inner.eof_received()
        return result

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        if self._refused:
            return
        if self._transport is not None:
            self._guard._unregister(self._transport)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if not self._refused:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if not self._refused:
            self._inner.resume_writing()

    # --- requests (told by the middleware)

    def start_request(self) -> None:
        self._busy += 1
        self._arm(self._guard.limits.request + REQUEST_GRACE, "request")

    def finish_request(self, closing: bool) -> None:
        self._busy = max(0, self._busy - 1)
        if closing:
            self._closing = True  # what still arrives is the rest of a refused body, not a new request
            self._arm(LINGER_GRACE, "linger")
        elif not self._busy:
            self._head_bytes, self._head_done, self._tail = 0, False, b""
            self._arm(self._guard.limits.idle, "idle")

    # --- deadline

    def _arm(self, seconds: float, reason: str) -> None:
        self._cancel()
        self._reason = reason
        loop = asyncio.get_running_loop()
        self._timer = loop.call_at(loop.time() + seconds, self._expired)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self._reason == "header" and self._head_bytes:
            self._close("header_timeout", 408, "Request Timeout")
        else:
            self._close(self._reason + "_timeout", 0, "")

    def _close(self, reason: str, status: int, phrase: str) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        self._guard.count(reason)
        log.debug("closing a client connection", extra={"fields": {"reason": reason}})  # a flood under attack
        if status and not self._busy and not self._closing:
            message = f"{phrase.lower()}: the connection was closed ({reason})"
            transport.write(_raw_response(status, phrase, reason, message))
            transport.close()
        else:
            transport.abort()  # mid-request, or nothing worth saying: don't wait on a client that doesn't read


def limits_middleware(guard: ConnectionGuard) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Tells the guard when a request is in progress, and answers 504 once `timeouts.request` has passed.

    The response is written here (not after the handler returns), so the whole request, answer included,
    counts towards the deadline and the connection is idle only once the answer is out."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        transport = request.transport
        guard.request_started(transport)
        timeout = asyncio.timeout(guard.limits.request)
        closing = True  # unless the answer went out and keeps the connection
        try:
            async with timeout:
                response = await handler(request)
                await response.prepare(request)
                await response.write_eof()
            closing = not response.keep_alive
            return response
        except TimeoutError:
            if not timeout.expired():
                raise
            guard.count("request_timeout")
            if request.get(_PREPARED):
                if transport is not None:
                    transport.abort()  # the answer has begun: it cannot become an error any more
                raise
            return _timeout_response(guard.limits.request)
        finally:
            guard.request_finished(transport, closing)

    return middleware


async def _mark_prepared(request: web.Request, _: web.StreamResponse) -> None:
    request[_PREPARED] = True


def _timeout_response(seconds: float) -> web.Response:
    body = {
        "error": {
            "message": f"the request did not complete within {seconds:g}s",
            "type": "guardrail_error",
            "code": "request_timeout",
        }
    }
    response = web.json_response(body, status=504)
    response.force_close()
    return response


class GuardedSite(web.BaseSite):
    """A TCP site whose connections go through a `ConnectionGuard` (aiohttp's `TCPSite`, guarded)."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, guard: ConnectionGuard, backlog: int) -> None:
        super().__init__(runner, backlog=backlog)
        self._host = host
        self._port = port
        self._guard = guard

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        self._guard.factory = self._runner.server
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._guard, self._host, self._port, backlog=self._backlog, reuse_address=True
        )
