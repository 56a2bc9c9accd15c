"""The scored path: request checks, forward, score the answer, and answer with a verdict."""

from __future__ import annotations

import logging
import time

from aiohttp import web

from guardrail_sidecar.apis.dispatch import CHAT, Api, api_of, reshape_error
from guardrail_sidecar.apis.dispatch import gate_stream as gate_api_stream
from guardrail_sidecar.errors import BackendError, RequestError, UpstreamError
from guardrail_sidecar.observability import tracing
from guardrail_sidecar.scored_path.answers import read_response, score_response
from guardrail_sidecar.scored_path.detection import check_request
from guardrail_sidecar.scored_path.protocols import (
    ScoringRequest,
    guardrail_field,
    load_json,
    parse_json_request,
    set_path,
)
from guardrail_sidecar.scored_path.reporting import ANSWER_STARTED, record, verdict_headers
from guardrail_sidecar.scored_path.streaming import gate_stream
from guardrail_sidecar.scoring.pipeline import Pipeline
from guardrail_sidecar.scoring.verdict import Assessment, Verdict
from guardrail_sidecar.server.http import error_response, request_target
from guardrail_sidecar.server.proxy import ReverseProxy

log = logging.getLogger("guardrail.sidecar")


def parse_request(proxy: ReverseProxy, body: bytes, api: Api = CHAT) -> ScoringRequest:
    data = load_json(body)  # strict: a body the app could read differently is refused, not guessed at
    if proxy.config.proxy.protocol == "openai":
        return api.parse(data)
    return parse_json_request(data, proxy.config.proxy.json_fields)


async def check_injection(pipeline: Pipeline, request: ScoringRequest) -> Assessment | None:
    """A blocking (or, in monitor mode, flagging) assessment when the request is a prompt injection.

    Fail-closed covers this check too: when detection is on but its model cannot be reached or is not
    deployed, `onBackendError` decides (fail-closed refuses the request; it is never forwarded unchecked)."""
    with tracing.injection_check(pipeline.policy) as span:
        try:
            if pipeline.policy.prompt_injection.enabled and not await pipeline.scorer.injection_available():
                model = pipeline.config.models.injection.name
                raise BackendError("injection", f"prompt-injection model {model} is not available")
            score = await pipeline.injection_score(request)
        except BackendError as exc:
            failed = pipeline.backend_failed(exc)
            return failed if failed.verdict == "block" else None
        tracing.injection_result(span, score, pipeline.is_injection(score))
    if not pipeline.is_injection(score):
        return None
    verdict: Verdict = "block" if pipeline.policy.mode == "enforce" else "flag"
    reason = f"prompt injection detected (p={score:.3f})"
    return Assessment(verdict, 1.0 - float(score or 0.0), (), reason, code="prompt_injection")


def refusal_response(
    proxy: ReverseProxy, pipeline: Pipeline, request: ScoringRequest, assessment: Assessment, api: Api = CHAT
) -> web.Response:
    headers = verdict_headers(assessment, pipeline.revision)
    field = guardrail_field(assessment, pipeline.revision, citations=False)
    message = pipeline.policy.refusal_message
    if proxy.config.proxy.protocol == "json":
        body = set_path({}, proxy.config.proxy.json_fields.answer_path, message) | {"guardrail": field}
        return web.json_response(body, headers=headers)
    refusal = api.refusal(message, request.model, field, None)  # in the shape of the API the client speaks
    if not request.stream:
        return web.json_response(refusal, headers=headers)
    return web.Response(body=api.refusal_events(refusal), content_type="text/event-stream", headers=headers)


_PUBLIC_UPSTREAM = {
    504: "the app did not answer in time",
    502: "the app's answer could not be used (the sidecar's log says why)",
}


def refused_request(
    proxy: ReverseProxy, exc: RequestError, revision: str, headers: dict[str, str] | None = None
) -> web.Response:
    """A refused request: counted for `revision`, answered with a JSON error naming the problem."""
    reason = {413: "too_large", 429: "rate_limit"}.get(exc.status, "invalid")
    proxy.metrics.refused.labels(revision, reason).inc()
    response = error_response(exc.status, exc.code, exc.message, headers)
    if exc.status in (408, 413, 415):
        response.force_close()  # the rest of the body is unread or unreadable: don't reuse the connection
    return response


async def handle_scored(proxy: ReverseProxy, request: web.Request) -> web.StreamResponse:
    """The revision is picked first (at random, or by `routing.stickyHeader`), so every outcome of the
    request, refusals and app failures included, is counted for the revision that handled it."""
    ANSWER_STARTED.set(time.perf_counter())  # guardrail_answer_duration_seconds runs from here
    sticky = proxy.config.routing.sticky_header
    pipeline = proxy.revisions.pick(request.headers.get(sticky) if sticky else None)
    api = api_of(request_target(request)) if proxy.config.proxy.protocol == "openai" else CHAT
    try:
        return reshape_error(api, await _handle_scored(proxy, pipeline, request, api))
    except RequestError as exc:
        refused = refused_request(proxy, exc, pipeline.revision, {"x-guardrail-revision": pipeline.revision})
        return reshape_error(api, refused)
    except UpstreamError as exc:
        proxy.metrics.upstream_errors.labels(pipeline.revision).inc()
        log.warning("upstream error", extra={"fields": {"status": exc.status, "error": exc.message}})
        message = _PUBLIC_UPSTREAM.get(exc.status, _PUBLIC_UPSTREAM[502])
        failed = error_response(exc.status, "upstream_error", message, {"x-guardrail-revision": pipeline.revision})
        return reshape_error(api, failed)


async def _handle_scored(proxy: ReverseProxy, pipeline: Pipeline, request: web.Request, api: Api) -> web.StreamResponse:
    started = time.perf_counter()
    if not proxy.limiter.allow(proxy.client_key(request)):
        raise RequestError(429, "rate_limited", "too many requests from this client; slow down")
    body = await proxy.read_body(request, plain=True)
    scoring_request = parse_request(proxy, body, api)
    _, request_id = proxy.request_id(request)
    gauge = proxy.metrics.in_flight.labels(pipeline.revision)
    gauge.inc()
    try:
        body, scoring_request, detected = await check_request(pipeline, body, scoring_request)
        if detected is not None:  # spec.detectors: a block detector found sensitive data in the request
            record(proxy, pipeline, detected, request_id, "request")
            return refusal_response(proxy, pipeline, scoring_request, detected, api)
        injection = await check_injection(pipeline, scoring_request)
        if injection is not None:
            record(proxy, pipeline, injection, request_id, "prompt_injection")
            if injection.verdict == "block":
                refused = "backend_unavailable" if injection.backend_error else "prompt_injection"
                proxy.metrics.refused.labels(pipeline.revision, refused).inc()
                return refusal_response(proxy, pipeline, scoring_request, injection, api)
        checked = time.perf_counter()
        call = tracing.UpstreamCall.start(scoring_request.model, proxy.config.proxy, api.name)
        with call.sending():
            response = await proxy.upstream.send(request, body, identity=True)
        upstream_time = 0.0
        try:
            is_sse = response.content_type == "text/event-stream"
            coded = response.headers.get("Content-Encoding", "identity").strip().lower() != "identity"
            if scoring_request.stream and response.status == 200 and is_sse and not coded:
                if api.gate is not None:  # Responses, Messages: their own events
                    return await gate_api_stream(proxy, pipeline, request, response, scoring_request, request_id, api)
                return await gate_stream(proxy, pipeline, request, response, scoring_request, request_id)
            raw, payload = await read_response(proxy, response)
            upstream_time = time.perf_counter() - checked
        finally:
            response.release()
            call.end(response.status)
        out = await score_response(proxy, pipeline, response, (raw, payload), scoring_request, request_id, api)
        added = time.perf_counter() - started - upstream_time
        proxy.metrics.added_latency.labels(pipeline.revision).observe(added, tracing.exemplar())
        return out
    finally:
        gauge.dec()
