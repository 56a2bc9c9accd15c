"""The reverse proxy: pass-through for everything that is not scored, scored paths go through the pipeline."""

from __future__ import annotations

import logging
import time
import uuid

import aiohttp
from aiohttp import web
from yarl import URL

from guardrail_contract.durations import duration_seconds
from guardrail_contract.sidecar_config import SidecarConfig
from guardrail_sidecar.errors import UpstreamError
from guardrail_sidecar.observability import tracing
from guardrail_sidecar.observability.metrics import Metrics
from guardrail_sidecar.observability.redact import Redactor
from guardrail_sidecar.revisions.served import ServedRevisions
from guardrail_sidecar.scored_path.responses import app_headers
from guardrail_sidecar.server.http import read_bounded, request_headers, request_target
from guardrail_sidecar.server.ratelimit import RateLimiter, client_identity

log = logging.getLogger("guardrail.sidecar")
_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")


class Upstream:
    """The app container: one pooled aiohttp session created at start-up, bytes passed through undecoded."""

    def __init__(self, config: SidecarConfig) -> None:
        proxy = config.proxy
        self.base = f"http://{proxy.upstream_host}:{proxy.upstream_port}"
        self._timeout = duration_seconds(proxy.upstream_timeout)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=_AUTO_HEADERS,
            timeout=aiohttp.ClientTimeout(total=self._timeout),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(self, request: web.Request, body: bytes, identity: bool = False) -> aiohttp.ClientResponse:
        """Forward `request` with `body` (the caller releases the response); `identity`: no compression."""
        if self._session is None:
            raise RuntimeError("Upstream.start() must run first")
        headers = request_headers(request)
        if identity:
            headers["Accept-Encoding"] = "identity"
        tracing.inject(headers)  # the current span as the app's parent (tracing on); else the client's, as sent
        try:
            return await self._session.request(
                request.method,
                URL(self.base + request_target(request), encoded=True),
                headers=headers,
                data=body or None,
                allow_redirects=False,
            )
        except TimeoutError as exc:
            raise UpstreamError(504, f"the app did not answer within {self._timeout:g}s") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError(502, f"cannot reach the app: {exc}") from exc


class ReverseProxy:
    def __init__(self, revisions: ServedRevisions, metrics: Metrics, upstream: Upstream) -> None:
        self.revisions = revisions
        self.metrics = metrics
        self.upstream = upstream
        self.redactor = Redactor(revisions.config.audit.redact_patterns)
        rate = revisions.config.proxy.rate_limit
        self.limiter = RateLimiter(rate.requests_per_second, rate.burst)

    @property
    def config(self) -> SidecarConfig:
        return self.revisions.config

    def request_id(self, request: web.Request) -> tuple[str | None, str]:
        """(the client's request id or None, an id for logs)."""
        given = request.headers.get(self.config.routing.request_id_header)
        return given, given or uuid.uuid4().hex

    def client_key(self, request: web.Request) -> str:
        """Who the client is, for the rate limit (`proxy.rateLimit.identity`)."""
        return client_identity(self.config.proxy.rate_limit, _peer(request), request.headers.items())

    async def read_body(self, request: web.Request, plain: bool = False) -> bytes:
        """The request body within `maxRequestBytes` and `timeouts.bodyRead`; `plain`: the sidecar reads it."""
        proxy = self.config.proxy
        return await read_bounded(
            request, proxy.max_request_bytes, duration_seconds(proxy.timeouts.body_read), plain=plain
        )

    async def passthrough(self, request: web.Request, revision: str, body: bytes | None = None) -> web.StreamResponse:
        """Forward untouched: method, path, query, headers (less hop-by-hop), body (`body`: already read), status,
        bytes."""
        started = time.perf_counter()
        body = await self.read_body(request) if body is None else body
        before = time.perf_counter() - started
        response = await self.upstream.send(request, body)
        try:
            answered = time.perf_counter()
            out = web.StreamResponse(status=response.status, reason=response.reason)
            out.headers.extend(app_headers(raw_headers(response)))  # never the app's own x-guardrail-*
            await out.prepare(request)
            added = before + time.perf_counter() - answered
            async for chunk in response.content.iter_any():
                await out.write(chunk)
            await out.write_eof()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise UpstreamError(502, f"the app's response broke off: {exc}") from exc
        finally:
            response.release()
        self.metrics.added_latency.labels(revision).observe(added, tracing.exemplar())
        return out


def _peer(request: web.Request) -> str | None:
    """The TCP peer's address (not `request.remote`, which a `Forwarded` header could rewrite in some setups)."""
    peer = request.transport.get_extra_info("peername") if request.transport is not None else None
    if isinstance(peer, (tuple, list)) and peer:
        return str(peer[0])
    return request.remote


def raw_headers(response: aiohttp.ClientResponse) -> list[tuple[str, str]]:
    """The app's response headers exactly as sent (order and duplicates kept)."""
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.raw_headers]
