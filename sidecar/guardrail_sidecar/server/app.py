"""The two aiohttp applications: the proxy (every path) and the admin port (/metrics, /healthz, /readyz)."""

from __future__ import annotations

import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.openmetrics import exposition as openmetrics

from guardrail_sidecar.apis.dispatch import api_of, conversation_items, reshape_error, unchecked_retrieval
from guardrail_sidecar.errors import RequestError, UpstreamError
from guardrail_sidecar.observability import tracing
from guardrail_sidecar.scored_path.conversations import handle_items
from guardrail_sidecar.scored_path.handler import handle_scored, refused_request
from guardrail_sidecar.server.http import error_response, request_target
from guardrail_sidecar.server.proxy import ReverseProxy

log = logging.getLogger("guardrail.sidecar")
PROXY: web.AppKey[ReverseProxy] = web.AppKey("proxy", ReverseProxy)


async def handle(request: web.Request) -> web.StreamResponse:
    """Scored paths go through the pipeline; everything else passes through untouched."""
    proxy = request.app[PROXY]
    revision = proxy.revisions.stable.revision if proxy.revisions.stable else ""
    target = request_target(request)
    try:
        if proxy.config.proxy.is_scored(request.method, target, request.body_exists):
            return await handle_scored(proxy, request)
        if proxy.config.proxy.is_scored_path(target) and request.method.upper() != "OPTIONS":
            # A bodiless GET/HEAD/DELETE on a scored path: its answer would not be checked, so it is not asked.
            refused = RequestError(405, "method_not_allowed", f"{request.method} is not served on a scored path")
            answer = refused_request(proxy, refused, revision, {"Allow": "POST, OPTIONS"})
            return reshape_error(api_of(target), answer) if proxy.config.proxy.protocol == "openai" else answer
        if (unchecked := unchecked_retrieval(proxy.config.proxy, request.method, target)) is not None:
            return reshape_error(unchecked[1], refused_request(proxy, unchecked[0], revision))  # stored answers
        if (required := conversation_items(proxy.config.proxy, request.method, target)) is not None:
            return await handle_items(proxy, request, required)  # client text a later response reads: checked
        return await proxy.passthrough(request, revision)
    except RequestError as exc:  # pass-through traffic (scored paths count their own, per revision)
        return refused_request(proxy, exc, revision)
    except UpstreamError as exc:  # pass-through traffic (scored paths count their own, per revision)
        proxy.metrics.upstream_errors.labels(revision).inc()
        log.warning("upstream error", extra={"fields": {"status": exc.status, "error": exc.message}})
        message = "the app did not answer in time" if exc.status == 504 else "the app could not be reached"
        return error_response(exc.status, "upstream_error", message)  # details (addresses) stay in the log


def build_proxy_app(proxy: ReverseProxy) -> web.Application:
    # The body limit is enforced by the handlers (413 with a JSON body); aiohttp's own limit sits above it.
    app = web.Application(
        client_max_size=proxy.config.proxy.max_request_bytes + 1,
        middlewares=[tracing.server_span_middleware(lambda r: _scored_route(proxy, r))],
    )
    app[PROXY] = proxy
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def _scored_route(proxy: ReverseProxy, request: web.Request) -> str | None:
    """The scored path a request is for (a span name of low cardinality), else None."""
    path = request_target(request).split("?", 1)[0]
    return path if proxy.config.proxy.is_scored_path(path) else None


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text, or OpenMetrics (which carries the histograms' trace exemplars) when asked for."""
    proxy = request.app[PROXY]
    if "application/openmetrics-text" in request.headers.get("Accept", ""):
        body = openmetrics.generate_latest(proxy.metrics.registry)  # type: ignore[no-untyped-call]  # untyped upstream
        return web.Response(body=body, headers={"Content-Type": openmetrics.CONTENT_TYPE_LATEST})
    body = generate_latest(proxy.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when every revision can serve: a fail-closed one needs its models and knowledge base (without
    them it refuses everything), a fail-open one keeps serving when they are down."""
    proxy = request.app[PROXY]
    readiness = await proxy.revisions.readiness()
    ready = all(readiness.values())
    body = {
        "status": "ready" if ready else "not ready",
        "revisions": list(readiness),
        "ready": readiness,
        "canaryWeight": proxy.revisions.weight,
    }
    return web.json_response(body, status=200 if ready else 503)


def build_admin_app(proxy: ReverseProxy) -> web.Application:
    app = web.Application()
    app[PROXY] = proxy
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app
