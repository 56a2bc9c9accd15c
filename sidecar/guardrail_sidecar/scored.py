"""The scored path: request checks, forward, score the answer, and answer with a verdict."""

from __future__ import annotations

import json
import logging
import time
import zlib
from typing import Any

import aiohttp
from aiohttp import web

from .errors import BackendError, RequestError, UpstreamError
from .http import end_to_end, read_bounded
from .outcome import record, verdict_headers
from .pipeline import Pipeline
from .protocols import (
    ScoringRequest,
    annotate_openai,
    guardrail_field,
    json_answer,
    openai_answers,
    openai_refusal,
    parse_json_request,
    parse_openai_request,
    set_path,
)
from .proxy import Proxy, raw_headers
from .streaming import gate_stream, refusal_events
from .verdict import Assessment, Verdict, aggregate

log = logging.getLogger("guardrail.sidecar")
_WORST = {"pass": 0, "flag": 1, "block": 2}


def parse_request(proxy: Proxy, body: bytes) -> ScoringRequest:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(400, "invalid_json", f"request body is not valid JSON: {exc}") from exc
    if proxy.config.proxy.protocol == "openai":
        return parse_openai_request(data)
    return parse_json_request(data, proxy.config.proxy.json_fields)


async def check_injection(pipeline: Pipeline, request: ScoringRequest) -> Assessment | None:
    """A blocking (or, in monitor mode, flagging) assessment when the request is a prompt injection."""
    try:
        score = await pipeline.injection_score(request)
    except BackendError as exc:
        failed = pipeline.backend_failed(exc)
        return failed if failed.verdict == "block" else None
    if not pipeline.is_injection(score):
        return None
    verdict: Verdict = "block" if pipeline.policy.mode == "enforce" else "flag"
    return Assessment(verdict, 1.0 - float(score or 0.0), (), f"prompt injection detected (p={score:.3f})")


def refusal_response(proxy: Proxy, pipeline: Pipeline, request: ScoringRequest, assessment: Assessment) -> web.Response:
    headers = verdict_headers(assessment, pipeline.revision) | {"x-guardrail-reason": "prompt-injection"}
    field = guardrail_field(assessment, pipeline.revision, citations=False)
    message = pipeline.policy.refusal_message
    if proxy.config.proxy.protocol == "json":
        body = set_path({}, proxy.config.proxy.json_fields.answer_path, message) | {"guardrail": field}
        return web.json_response(body, headers=headers)
    completion = openai_refusal(message, request.model, field)
    if not request.stream:
        return web.json_response(completion, headers=headers)
    return web.Response(body=refusal_events(completion), content_type="text/event-stream", headers=headers)


async def handle_scored(proxy: Proxy, request: web.Request) -> web.StreamResponse:
    started = time.perf_counter()
    if not proxy.limiter.allow(proxy.client_key(request)):
        raise RequestError(429, "rate_limited", "too many requests from this client; slow down")
    body = await read_bounded(request, proxy.config.proxy.max_request_bytes)
    scoring_request = parse_request(proxy, body)
    given_id, request_id = proxy.request_id(request)
    pipeline = proxy.runtime.pick(given_id)
    gauge = proxy.metrics.in_flight.labels(pipeline.revision)
    gauge.inc()
    try:
        injection = await check_injection(pipeline, scoring_request)
        if injection is not None:
            record(proxy, pipeline, injection, request_id, "prompt_injection")
            if injection.verdict == "block":
                proxy.metrics.refused.labels(pipeline.revision, "prompt_injection").inc()
                return refusal_response(proxy, pipeline, scoring_request, injection)
        checked = time.perf_counter()
        response = await proxy.upstream.send(request, body, identity=True)
        upstream_time = 0.0
        try:
            is_sse = response.content_type == "text/event-stream"
            if scoring_request.stream and response.status == 200 and is_sse:
                return await gate_stream(proxy, pipeline, request, response, scoring_request, request_id)
            payload = await _read_response(proxy, response)
            upstream_time = time.perf_counter() - checked
        finally:
            response.release()
        out = await _score_response(proxy, pipeline, response, payload, scoring_request, request_id)
        proxy.metrics.added_latency.labels(pipeline.revision).observe(time.perf_counter() - started - upstream_time)
        return out
    finally:
        gauge.dec()


async def _read_response(proxy: Proxy, response: aiohttp.ClientResponse) -> bytes:
    limit = proxy.config.proxy.max_response_bytes
    chunks, size = [], 0
    try:
        async for chunk in response.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise UpstreamError(502, f"the app's answer exceeds maxResponseBytes ({limit} bytes)")
            chunks.append(chunk)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise UpstreamError(502, f"the app's response broke off: {exc}") from exc
    return decode(b"".join(chunks), response.headers.get("Content-Encoding", ""), limit)


def decode(payload: bytes, encoding: str, limit: int) -> bytes:
    """The body without its content coding (we ask for identity, but an app may compress anyway): an answer
    the sidecar cannot read is never passed on unchecked."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return payload
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise UpstreamError(502, f"cannot check an answer with Content-Encoding {encoding}")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if "gzip" in encoding else zlib.MAX_WBITS)
    try:
        out = inflater.decompress(payload, limit)
    except zlib.error as exc:
        raise UpstreamError(502, f"the app's {encoding} answer is corrupt: {exc}") from exc
    if inflater.unconsumed_tail:
        raise UpstreamError(502, f"the app's answer exceeds maxResponseBytes ({limit} bytes) once decompressed")
    return out


async def _score_response(
    proxy: Proxy,
    pipeline: Pipeline,
    response: aiohttp.ClientResponse,
    payload: bytes,
    scoring_request: ScoringRequest,
    request_id: str,
) -> web.Response:
    headers = end_to_end(raw_headers(response), drop=("content-length", "content-type", "content-encoding"))
    headers["x-guardrail-revision"] = pipeline.revision
    data: Any = None
    if response.status == 200 and response.content_type == "application/json":
        try:
            data = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError):
            data = None
    protocol = proxy.config.proxy.protocol
    fields = proxy.config.proxy.json_fields
    answers = openai_answers(data) if protocol == "openai" else [a for a in [json_answer(data, fields)] if a]
    if not isinstance(data, dict) or not answers:  # nothing to score: the app's answer, decoded
        if "Content-Type" in response.headers:
            headers["Content-Type"] = response.headers["Content-Type"]
        return web.Response(body=payload, status=response.status, headers=headers)
    assessments = [await pipeline.assess(answer, scoring_request) for answer in answers]
    assessment = max(assessments, key=lambda a: (_WORST[a.verdict], -a.score))
    if len(assessments) > 1:
        merged = aggregate(
            [c for a in assessments for c in a.claims], pipeline.policy.threshold, pipeline.policy.soft_limit
        )
        if not any(a.backend_error for a in assessments):
            assessment = merged
    record(proxy, pipeline, assessment, request_id, "answer")
    policy = pipeline.policy
    field = guardrail_field(assessment, pipeline.revision, policy.citations)
    refuse = policy.mode == "enforce" and assessment.verdict == "block"
    if protocol == "openai":
        body = annotate_openai(data, field, policy.refusal_message if refuse else None)
    else:
        body = set_path(data, fields.answer_path, policy.refusal_message) if refuse else dict(data)
        body["guardrail"] = field
    headers.update(verdict_headers(assessment, pipeline.revision))
    return web.json_response(body, headers=headers)
