"""What happens with every verdict: response headers, metrics and (for flag/block) an audit line."""

from __future__ import annotations

import time
from contextvars import ContextVar

from guardrail_sidecar.observability import tracing
from guardrail_sidecar.observability.logs import audit, audit_fields
from guardrail_sidecar.scoring.pipeline import Pipeline
from guardrail_sidecar.scoring.verdict import Assessment
from guardrail_sidecar.server.proxy import ReverseProxy

# When the scored request being handled arrived (time.perf_counter(); set by handle_scored, per request task).
ANSWER_STARTED: ContextVar[float | None] = ContextVar("guardrail_answer_started", default=None)
ANSWER_KINDS = ("answer", "stream")  # verdicts on an app's answer (not the injection check before the app)


def verdict_headers(assessment: Assessment, revision: str) -> dict[str, str]:
    return {
        "x-guardrail-verdict": assessment.verdict,
        "x-guardrail-score": f"{assessment.score:.4f}",
        "x-guardrail-revision": revision,
        "x-guardrail-reason": assessment.code,
    }


def record(
    proxy: ReverseProxy,
    pipeline: Pipeline,
    assessment: Assessment,
    request_id: str,
    kind: str,
    stopped: bool | None = None,
) -> None:
    """Metrics and a trace span for every verdict, an audit line for every flag or block (`stopped`: whether
    a stream was cut short)."""
    tracing.verdict(assessment, pipeline.revision, pipeline.policy, kind, stopped)
    proxy.metrics.requests.labels(pipeline.revision, assessment.verdict).inc()
    started = ANSWER_STARTED.get()
    if started is not None and kind in ANSWER_KINDS:  # a stream's verdict is recorded as its last bytes go out
        answered = time.perf_counter() - started
        proxy.metrics.answer_duration.labels(pipeline.revision).observe(answered, tracing.exemplar())
    if not assessment.backend_error:
        proxy.metrics.score.labels(pipeline.revision).observe(assessment.score)
    if assessment.verdict != "pass" or assessment.backend_error:
        audit_cfg = proxy.config.audit
        audit(audit_fields(assessment, request_id, pipeline.revision, proxy.redactor, audit_cfg.include_text, kind))
