"""OpenTelemetry tracing, shared by the sidecar and the operator: set up from the standard `OTEL_*` variables,
off unless they ask for it, and the names of the `guardrail.*` span attributes (docs/tracing.md).

Tracing is on when `OTEL_TRACES_EXPORTER` names an exporter (`otlp`, `console`), or, with it unset, when an OTLP
endpoint is given (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`); `OTEL_SDK_DISABLED=true`
turns it off whatever else is set. Everything else is the SDK's own reading of the standard variables:
`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER(_ARG)`, `OTEL_BSP_*`,
`OTEL_EXPORTER_OTLP_(TRACES_)HEADERS/TIMEOUT/CERTIFICATE/...`, `OTEL_PROPAGATORS` (default: W3C `traceparent`
and baggage). `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL` picks `http/protobuf` (the default) or `grpc`.

No user text is put on a span unless `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true` (the GenAI
semantic conventions' switch).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

CAPTURE_CONTENT_ENV: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
EXPORTERS: Final = ("otlp", "console")
PROTOCOLS: Final = ("http/protobuf", "grpc")

# The guardrail.* namespace (docs/tracing.md lists where each appears).
REVISION: Final = "guardrail.revision"
VERDICT: Final = "guardrail.verdict"
SCORE: Final = "guardrail.score"
REASON: Final = "guardrail.reason"  # a stable reason code (`ungrounded`, `prompt_injection`, ...), never text
KIND: Final = "guardrail.kind"  # what was judged: answer, stream, prompt_injection
POLICY_MODE: Final = "guardrail.policy.mode"
POLICY_THRESHOLD: Final = "guardrail.policy.threshold"
POLICY_SOFT_LIMIT: Final = "guardrail.policy.soft_limit"
POLICY_ON_BACKEND_ERROR: Final = "guardrail.policy.on_backend_error"
BACKEND_ERROR: Final = "guardrail.backend_error"
CLAIMS: Final = "guardrail.claims"
CLAIMS_FAILED: Final = "guardrail.claims.failed"
CLAIMS_TEXT: Final = "guardrail.claims.text"  # only with content capture on
INJECTION_SCORE: Final = "guardrail.injection.score"
INJECTION_THRESHOLD: Final = "guardrail.injection.threshold"
INJECTION_DETECTED: Final = "guardrail.injection.detected"
INJECTION_WINDOWS: Final = "guardrail.injection.windows"
NLI_PAIRS: Final = "guardrail.nli.pairs"
PASSAGES: Final = "guardrail.retrieval.passages"
STREAM_STOPPED: Final = "guardrail.stream.stopped"
GUARDRAIL: Final = "guardrail.name"
NAMESPACE: Final = "guardrail.namespace"
ANALYSIS_RESULT: Final = "guardrail.analysis.result"
ANALYSIS_FAILED_CHECK: Final = "guardrail.analysis.failed_check"
ROLLOUT_PHASE: Final = "guardrail.rollout.phase"
CANARY_WEIGHT: Final = "guardrail.canary.weight"


class TracingConfigError(ValueError):
    """An OTEL_* variable holds a value this process cannot use; the message names it."""


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() == "true"


@dataclass(frozen=True)
class TracingSettings:
    """What the OTEL_* variables ask for (`exporters` empty: tracing off)."""

    exporters: tuple[str, ...] = ()
    protocol: str = "http/protobuf"
    capture_content: bool = False

    @property
    def enabled(self) -> bool:
        return bool(self.exporters)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TracingSettings:
        capture = _flag(env, CAPTURE_CONTENT_ENV)
        if _flag(env, "OTEL_SDK_DISABLED"):
            return cls(capture_content=capture)
        named = [e.strip().lower() for e in env.get("OTEL_TRACES_EXPORTER", "").split(",") if e.strip()]
        if not named:
            endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
            named = ["otlp"] if endpoint else []
        exporters = tuple(dict.fromkeys(e for e in named if e != "none"))
        unknown = [e for e in exporters if e not in EXPORTERS]
        if unknown:
            raise TracingConfigError(
                f"OTEL_TRACES_EXPORTER: unsupported exporter {unknown[0]!r} (use {', '.join(EXPORTERS)} or none)"
            )
        protocol = (
            env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or PROTOCOLS[0]
        ).strip()
        if protocol not in PROTOCOLS:
            raise TracingConfigError(
                f"OTEL_EXPORTER_OTLP_PROTOCOL: unsupported protocol {protocol!r} (use {' or '.join(PROTOCOLS)})"
            )
        return cls(exporters, protocol, capture)


def _exporter(name: str, protocol: str) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter()


def configure(service: str, env: Mapping[str, str] | None = None) -> TracerProvider | None:
    """Install the global tracer provider the OTEL_* variables ask for (None when tracing is off: the API's
    no-op tracer stays, and nothing is exported). `service` is the service name unless OTEL_SERVICE_NAME is set.
    Spans still buffered are exported at exit (the provider's atexit shutdown)."""
    env = os.environ if env is None else env
    settings = TracingSettings.from_env(env)
    if not settings.enabled:
        return None
    resource = Resource.create({} if env.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service})
    provider = TracerProvider(resource=resource)
    for name in settings.exporters:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name, settings.protocol)))
    trace.set_tracer_provider(provider)
    return provider


def capture_content(env: Mapping[str, str] | None = None) -> bool:
    """Whether user text may go on spans (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true)."""
    return _flag(os.environ if env is None else env, CAPTURE_CONTENT_ENV)
