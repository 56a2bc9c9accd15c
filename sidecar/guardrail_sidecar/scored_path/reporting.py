"""What happens with every verdict: response headers, metrics and (for flag/block) an audit line."""

from __future__ import annotations

from guardrail_sidecar.observability.logs import audit, audit_fields
from guardrail_sidecar.scoring.pipeline import Pipeline
from guardrail_sidecar.scoring.verdict import Assessment
from guardrail_sidecar.server.proxy import ReverseProxy


def verdict_headers(assessment: Assessment, revision: str) -> dict[str, str]:
    return {
        "x-guardrail-verdict": assessment.verdict,
        "x-guardrail-score": f"{assessment.score:.4f}",
        "x-guardrail-revision": revision,
        "x-guardrail-reason": assessment.code,
    }


def record(proxy: ReverseProxy, pipeline: Pipeline, assessment: Assessment, request_id: str, kind: str) -> None:
    """Metrics for every verdict, an audit line for every flag or block."""
    proxy.metrics.requests.labels(pipeline.revision, assessment.verdict).inc()
    if not assessment.backend_error:
        proxy.metrics.score.labels(pipeline.revision).observe(assessment.score)
    if assessment.verdict != "pass" or assessment.backend_error:
        audit_cfg = proxy.config.audit
        audit(audit_fields(assessment, request_id, pipeline.revision, proxy.redactor, audit_cfg.include_text, kind))
