"""`guardrail_operator_guardrail_condition`: one series per condition of each Guardrail, with its current status
and reason, the old one gone when either changes, all gone when the Guardrail is deleted (the chart's rollout
and knowledge-base alerts key on these, not on the phase)."""

from __future__ import annotations

from prometheus_client import generate_latest

from guardrail_contract.guardrail import Condition
from guardrail_operator.controller.metrics import Metrics


def series(metrics: Metrics) -> set[tuple[str, str, str, str, str, float]]:
    out = set()
    for family in metrics.registry.collect():
        for s in family.samples:
            if s.name == "guardrail_operator_guardrail_condition":
                labels = s.labels
                out.add(
                    (
                        labels["guardrail_namespace"],
                        labels["guardrail"],
                        labels["type"],
                        labels["status"],
                        labels["reason"],
                        s.value,
                    )
                )
    return out


def condition(kind: str, status: str, reason: str) -> Condition:
    return Condition.model_validate({"type": kind, "status": status, "reason": reason})


def test_each_condition_is_one_series_with_its_current_status_and_reason() -> None:
    metrics = Metrics()
    metrics.set_phase(
        "shop", "bot", "Progressing",
        [condition("Ready", "True", "Ready"), condition("RolloutHealthy", "True", "CanaryProgressing")],
    )  # fmt: skip
    metrics.set_phase(
        "docs", "faq", "Degraded", [condition("KnowledgeBaseReady", "False", "ExternalQdrantUnreachable")]
    )
    assert series(metrics) == {
        ("shop", "bot", "Ready", "True", "Ready", 1.0),
        ("shop", "bot", "RolloutHealthy", "True", "CanaryProgressing", 1.0),
        ("docs", "faq", "KnowledgeBaseReady", "False", "ExternalQdrantUnreachable", 1.0),
    }

    metrics.set_phase(
        "shop", "bot", "RolledBack",
        [condition("Ready", "True", "Ready"), condition("RolloutHealthy", "False", "AnalysisFailed")],
    )  # fmt: skip
    bot = {s for s in series(metrics) if s[1] == "bot"}
    assert bot == {
        ("shop", "bot", "Ready", "True", "Ready", 1.0),
        ("shop", "bot", "RolloutHealthy", "False", "AnalysisFailed", 1.0),
    }, "the True series is gone: a rule sees one status per condition"

    metrics.set_phase("shop", "bot", None)
    assert {s[1] for s in series(metrics)} == {"faq"}
    text = generate_latest(metrics.registry).decode()
    assert 'guardrail_operator_guardrails{phase="RolledBack"} 0.0' in text, "the phase gauge stays for humans"
    assert 'guardrail_operator_guardrail_condition{guardrail="faq",guardrail_namespace="docs"' in text
