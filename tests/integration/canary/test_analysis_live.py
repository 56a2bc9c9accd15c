"""Canary analysis against a real Prometheus scraping the sidecar's metric families: a good canary passes, a bad
one fails naming the check and its value, too little traffic is inconclusive; and the verdict drives the
rollout state machine to a rollback whose reason is in status."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from guardrail_cases import example
from guardrail_operator.analysis import Failed, Inconclusive, Passed, analyse
from guardrail_operator.models import Analysis, Guardrail
from guardrail_operator.prometheus import Prometheus
from guardrail_operator.revision import guardrail_revision
from guardrail_operator.rollout import rfc3339, step
from guardrail_operator.rollout_actions import AnalysisWindow, RolloutObserved

pytestmark = pytest.mark.integration

WINDOW = "15s"
LIMITS = Analysis(min_requests=200, max_error_rate=0.01, max_p95_latency_ms=250, max_block_rate_increase=0.05)


def run(prometheus_url: str, canary: str) -> Passed | Failed | Inconclusive:
    with Prometheus(prometheus_url) as prom:
        return analyse(prom.query, AnalysisWindow(canary, "stable1", WINDOW), LIMITS)


def test_a_good_canary_passes(prometheus_url: str) -> None:
    result = run(prometheus_url, "good1")
    assert isinstance(result, Passed), result
    increase = next(c for c in result.checks if c.name == "blockRateIncrease")
    assert abs(increase.value - 0.01) < 0.005  # 6 % vs 5 % blocked
    assert result.canary_requests >= LIMITS.min_requests


@pytest.mark.parametrize(
    ("canary", "check", "low", "high"),
    [
        ("blocky1", "blockRateIncrease", 0.5, 0.6),  # 60 % vs 5 % blocked
        ("slow1", "p95AddedLatencyMs", 500, 1000),  # every request adds 0.8 s (bucket 0.5..1.0)
        ("flaky1", "errorRate", 0.15, 0.25),  # 20 % of answers decided by a backend error
    ],
)
def test_a_bad_canary_fails_naming_the_check(
    prometheus_url: str, canary: str, check: str, low: float, high: float
) -> None:
    result = run(prometheus_url, canary)
    assert isinstance(result, Failed), result
    assert result.check == check
    assert low <= result.value <= high


def test_too_little_traffic_is_inconclusive(prometheus_url: str) -> None:
    result = run(prometheus_url, "quiet1")
    assert isinstance(result, Inconclusive), result
    assert "fewer than minRequests 200" in result.reason


def test_an_unreachable_prometheus_is_inconclusive_not_a_pass() -> None:
    with Prometheus("http://127.0.0.1:9", timeout=1) as prom:
        result = analyse(prom.query, AnalysisWindow("good1", "stable1", WINDOW), LIMITS)
    assert isinstance(result, Inconclusive)
    assert "unreachable" in result.reason


def test_a_real_failed_analysis_rolls_the_canary_back_with_the_reason(prometheus_url: str) -> None:
    doc = example()
    doc["spec"]["policy"]["threshold"] = 0.6
    spec = Guardrail.model_validate({"spec": doc["spec"]}).spec
    canary = {
        "revision": guardrail_revision(spec),
        "modelRevision": "m",
        "state": "Progressing",
        "weight": 50,
        "step": 1,
        "failures": 1,
        "stepStartedAt": "2026-01-01T00:00:00Z",
    }
    status = {
        "phase": "Progressing",
        "stableRevision": "stable1",
        "canary": canary,
        "history": [{"revision": "stable1", "promotedAt": "2025-12-31T00:00:00Z"}],
    }
    g = Guardrail.model_validate({"spec": doc["spec"], "status": status})
    now = datetime.now(UTC)
    decision = step(g, RolloutObserved(), run(prometheus_url, "blocky1"), now)
    assert decision.status.phase == "RolledBack"
    cond = next(c for c in decision.status.conditions if c.type == "RolloutHealthy")
    assert cond.status == "False"
    assert "blockRateIncrease" in cond.message
    assert cond.last_transition_time == rfc3339(now)
    assert [e.type for e in decision.events] == ["Warning"]
