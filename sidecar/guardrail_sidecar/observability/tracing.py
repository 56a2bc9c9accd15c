"""The sidecar's spans (docs/tracing.md): one server span per request, the upstream call as a GenAI `chat`
client span whose context the app receives as `traceparent`, and the guardrail's own work beneath the server
span: the injection check, each scoring round (retrieval, NLI) and the verdict. Histogram observations carry
the trace as an exemplar.

Off unless the OTEL_* variables ask for it (`guardrail_contract.tracing`): then every helper here is a no-op
(no span objects, no header changes: a client's `traceparent` reaches the app unchanged). No user text goes
on a span unless OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator, MutableMapping, Sequence
from contextvars import ContextVar
from typing import Any

from aiohttp import web
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from guardrail_contract import tracing as names
from guardrail_contract.sidecar_config import Policy
from guardrail_contract.sidecar_config import Proxy as ProxyConfig
from guardrail_sidecar.scoring.verdict import Assessment


class _State:
    """Set once at start-up (`configure`, or `use` in tests); read by every helper."""

    tracer: trace.Tracer = trace.NoOpTracer()
    enabled = False
    capture = False


_state = _State()
_call: ContextVar[Span | None] = ContextVar("guardrail_upstream_call", default=None)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def configure() -> bool:
    """Set tracing up from the environment (at start-up, once); whether it is on."""
    use(names.configure("guardrail-sidecar"), names.capture_content())
    return _state.enabled


def use(provider: trace.TracerProvider | None, capture_content: bool = False) -> None:
    """Trace with `provider` (None: tracing off); `capture_content`: user text may go on spans."""
    _state.tracer = provider.get_tracer("guardrail_sidecar") if provider is not None else trace.NoOpTracer()
    _state.enabled = provider is not None
    _state.capture = capture_content


def enabled() -> bool:
    return _state.enabled


def server_span_middleware(route_of: Callable[[web.Request], str | None]) -> Any:
    """An aiohttp middleware: a SERVER span around each request, continuing the client's `traceparent`.
    `route_of(request)` is the low-cardinality route (a scored path) or None (the span is named by the method)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not _state.enabled:
            return await handler(request)
        route = route_of(request)
        attributes: dict[str, Any] = {
            "http.request.method": request.method,
            "url.path": request.path,
            "url.scheme": request.scheme,
            "network.protocol.version": f"{request.version.major}.{request.version.minor}",
        }
        if route is not None:
            attributes["http.route"] = route
        name = f"{request.method} {route}" if route else request.method
        parent = propagate.extract(request.headers)
        _call.set(None)  # a keep-alive connection serves its requests in one task: no span of the last one
        with _state.tracer.start_as_current_span(
            name, parent, SpanKind.SERVER, attributes, record_exception=True
        ) as span:
            response = await handler(request)
            span.set_attribute("http.response.status_code", response.status)
            if response.status >= 500:
                span.set_status(Status(StatusCode.ERROR))
            return response

    return middleware


def inject(headers: MutableMapping[str, str]) -> None:
    """Put the current span's `traceparent` (and `tracestate`) on a request to the app; nothing when off."""
    if _state.enabled:
        propagate.inject(headers)


# The API a scored path speaks -> (gen_ai.operation.name, gen_ai.provider.name) of the app's request.
API_OPERATIONS = {
    "chat": ("chat", "openai"),
    "responses": ("chat", "openai"),
    "completions": ("text_completion", "openai"),
    "messages": ("chat", "anthropic"),
}


class UpstreamCall:
    """The request to the app, as a GenAI CLIENT span (`chat {model}`): started before it is sent, current
    while it is sent (so `inject` gives the app this span as its parent), ended once the answer was read or
    relayed."""

    def __init__(self, span: Span) -> None:
        self.span = span

    @classmethod
    def start(cls, model: str, config: ProxyConfig, api: str = "chat") -> UpstreamCall:
        """`api`: which API the request speaks (`API_OPERATIONS`); the json protocol names no provider."""
        if not _state.enabled:
            return cls(trace.INVALID_SPAN)
        operation, provider = API_OPERATIONS.get(api, ("chat", "openai"))
        if config.protocol != "openai":
            provider = ""
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "server.address": config.upstream_host,
            "server.port": config.upstream_port,
        }
        if provider:
            attributes["gen_ai.provider.name"] = provider
            attributes["gen_ai.system"] = provider  # the name before semantic conventions 1.37
        if model:
            attributes["gen_ai.request.model"] = model
        span = _state.tracer.start_span(f"{operation} {model}".strip(), kind=SpanKind.CLIENT, attributes=attributes)
        _call.set(span)
        return cls(span)

    @contextlib.contextmanager
    def sending(self) -> Iterator[None]:
        """Current while the request is sent; a failure to send ends the span as an error."""
        try:
            with trace.use_span(self.span, end_on_exit=False, record_exception=True, set_status_on_exception=True):
                yield
        except BaseException:
            self.span.end()
            raise

    def end(self, status: int) -> None:
        if self.span.is_recording():
            self.span.set_attribute("http.response.status_code", status)
            if status >= 400:
                self.span.set_status(Status(StatusCode.ERROR))
                self.span.set_attribute("error.type", str(status))
            self.span.end()


def note_answer(obj: Any) -> None:
    """Response metadata from a parsed answer or stream event onto the upstream call's span: model, id,
    finish reasons and token usage (OpenAI chat/Responses or Anthropic shapes); never text."""
    span = _call.get()
    if span is None or not span.is_recording() or not isinstance(obj, dict):
        return
    for carrier in (obj, obj.get("response"), obj.get("message")):
        if not isinstance(carrier, dict):
            continue
        if isinstance(model := carrier.get("model"), str) and model:
            span.set_attribute("gen_ai.response.model", model[:256])
        if isinstance(ident := carrier.get("id"), str) and ident:
            span.set_attribute("gen_ai.response.id", ident[:256])
        usage = carrier.get("usage")
        if isinstance(usage, dict):
            for key, attribute in (
                ("prompt_tokens", "gen_ai.usage.input_tokens"),
                ("input_tokens", "gen_ai.usage.input_tokens"),
                ("completion_tokens", "gen_ai.usage.output_tokens"),
                ("output_tokens", "gen_ai.usage.output_tokens"),
            ):
                if isinstance(value := usage.get(key), int) and not isinstance(value, bool):
                    span.set_attribute(attribute, value)
    reasons = [c.get("finish_reason") for c in obj.get("choices") or [] if isinstance(c, dict)]
    delta = obj.get("delta")
    reasons += [obj.get("stop_reason"), delta.get("stop_reason") if isinstance(delta, dict) else None]
    found = [r for r in reasons if isinstance(r, str) and r]
    if found:
        span.set_attribute("gen_ai.response.finish_reasons", found)


@contextlib.contextmanager
def injection_check(policy: Policy) -> Iterator[Span]:
    """The request's prompt-injection check (`guardrail.injection_check`)."""
    if not _state.enabled:
        yield trace.INVALID_SPAN
        return
    attributes = {names.INJECTION_THRESHOLD: policy.prompt_injection.threshold}
    with _state.tracer.start_as_current_span("guardrail.injection_check", attributes=attributes) as span:
        yield span


def injection_result(span: Span, score: float | None, detected: bool) -> None:
    if span.is_recording():
        if score is not None:
            span.set_attribute(names.INJECTION_SCORE, round(score, 6))
        span.set_attribute(names.INJECTION_DETECTED, detected)


def injection_windows(count: int) -> None:
    """How many windows the detector read (on the current injection-check span)."""
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attribute(names.INJECTION_WINDOWS, count)


@contextlib.contextmanager
def scoring(revision: str, claims: Sequence[str]) -> Iterator[Span]:
    """One scoring round (`guardrail.scoring`): a batch of claims to the verdict on them."""
    if not _state.enabled:
        yield trace.INVALID_SPAN
        return
    attributes: dict[str, Any] = {names.REVISION: revision, names.CLAIMS: len(claims)}
    if _state.capture:
        attributes[names.CLAIMS_TEXT] = list(claims)
    with _state.tracer.start_as_current_span("guardrail.scoring", attributes=attributes) as span:
        yield span


def scored(span: Span, assessment: Assessment) -> None:
    if span.is_recording():
        span.set_attribute(names.SCORE, round(assessment.score, 6))
        span.set_attribute(names.VERDICT, assessment.verdict)
        span.set_attribute(names.BACKEND_ERROR, assessment.backend_error)


@contextlib.contextmanager
def retrieval(collection: str | None, top_k: int) -> Iterator[Span]:
    """Embedding the claims and searching the knowledge base (GenAI `retrieval`)."""
    if not _state.enabled:
        yield trace.INVALID_SPAN
        return
    attributes: dict[str, Any] = {"gen_ai.operation.name": "retrieval", "gen_ai.request.top_k": top_k}
    if collection:
        attributes["gen_ai.data_source.id"] = collection
    name = f"retrieval {collection}" if collection else "retrieval"
    with _state.tracer.start_as_current_span(name, attributes=attributes) as span:
        yield span


def retrieved(span: Span, passages: int) -> None:
    if span.is_recording():
        span.set_attribute(names.PASSAGES, passages)


@contextlib.contextmanager
def nli(pairs: int) -> Iterator[Span]:
    """The NLI model scoring (evidence, claim) pairs (`guardrail.nli`)."""
    if not _state.enabled:
        yield trace.INVALID_SPAN
        return
    with _state.tracer.start_as_current_span("guardrail.nli", attributes={names.NLI_PAIRS: pairs}) as span:
        yield span


def verdict(assessment: Assessment, revision: str, policy: Policy, kind: str, stopped: bool | None = None) -> None:
    """The guardrail evaluation (`guardrail.verdict`, GenAI `gen_ai.evaluation.*`) as a child of the current
    span; the verdict, score and revision also go on the request's server span."""
    if not _state.enabled:
        return
    failed = [c for c in assessment.claims if c.score < policy.threshold]
    attributes: dict[str, Any] = {
        names.VERDICT: assessment.verdict,
        names.SCORE: round(assessment.score, 6),
        names.REVISION: revision,
        names.REASON: assessment.code,
        names.KIND: kind,
        names.POLICY_MODE: policy.mode,
        names.POLICY_THRESHOLD: policy.threshold,
        names.POLICY_SOFT_LIMIT: policy.soft_limit,
        names.POLICY_ON_BACKEND_ERROR: policy.on_backend_error,
        names.BACKEND_ERROR: assessment.backend_error,
        names.CLAIMS: len(assessment.claims),
        names.CLAIMS_FAILED: len(failed),
        "gen_ai.evaluation.name": "guardrail",
        "gen_ai.evaluation.score.value": round(assessment.score, 6),
        "gen_ai.evaluation.score.label": assessment.verdict,
    }
    if stopped is not None:
        attributes[names.STREAM_STOPPED] = stopped
    if _state.capture and assessment.reason:
        attributes["gen_ai.evaluation.explanation"] = assessment.reason
    server = trace.get_current_span()
    if server.is_recording():
        server.set_attributes({k: attributes[k] for k in (names.VERDICT, names.SCORE, names.REVISION, names.REASON)})
    _state.tracer.start_span("guardrail.verdict", attributes=attributes).end()


def exemplar() -> dict[str, str] | None:
    """The current trace as a Prometheus exemplar (OpenMetrics exposition shows it), or None."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid or not context.trace_flags.sampled:
        return None
    return {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}
