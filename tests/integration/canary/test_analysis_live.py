"""Canary analysis against a real Prometheus scraping the sidecar's metric families: a good canary passes, a bad
one fails naming the check and its value, too little traffic is inconclusive; and the verdict drives the
rollout state machine to a rollback whose reason is in status."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from guardrail_contract.durations import rfc3339
from guardrail_contract.guardrail import Analysis, Guardrail
from guardrail_operator.clients.prometheus import Prometheus
from guardrail_operator.reconcile.revision import guardrail_revision
from guardrail_operator.rollout.actions import AnalysisWindow, RolloutObserved
from guardrail_operator.rollout.analysis import Failed, Inconclusive, Passed, analyse, score_shift_check
from guardrail_operator.rollout.machine import step
from tests.integration.canary.traffic import BAD, BAD_SPEC, GOOD, STABLE

pytestmark = pytest.mark.integration

WINDOW = "15s"
LIMITS = Analysis(min_requests=200, max_error_rate=0.01, max_p95_latency_ms=250, max_block_rate_increase=0.05)


def run(prometheus_url: str, canary: str) -> Passed | Failed | Inconclusive:
    with Prometheus(prometheus_url) as prom:
        return analyse(prom.query, AnalysisWindow(canary, STABLE, WINDOW), LIMITS, [score_shift_check(0.1)])


def test_a_good_canary_passes(prometheus_url: str) -> None:
    result = run(prometheus_url, GOOD)
    assert isinstance(result, Passed), result
    increase = next(c for c in result.checks if c.name == "blockRateIncrease")
    assert abs(increase.value - 0.01) < 0.005  # 6 % vs 5 % blocked
    assert result.canary_requests >= LIMITS.min_requests
    shift = next(c for c in result.checks if c.name == "scoreMedianShift")
    assert shift.value < 0.05  # same scores as stable


@pytest.mark.parametrize(
    ("canary", "check", "low", "high"),
    [
        (BAD, "blockRateIncrease", 0.5, 0.6),  # 60 % vs 5 % blocked
        ("slow1", "p95AddedLatencyMs", 500, 1000),  # every request adds 0.8 s (bucket 0.5..1.0)
        ("flaky1", "errorRate", 0.15, 0.25),  # 20 % of answers decided by a backend error
        ("shifted1", "scoreMedianShift", 0.4, 0.6),  # median grounding score 0.3 vs 0.8 (buckets of 0.05)
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
        result = analyse(prom.query, AnalysisWindow(GOOD, STABLE, WINDOW), LIMITS)
    assert isinstance(result, Inconclusive)
    assert "unreachable" in result.reason


def test_a_real_failed_analysis_rolls_the_canary_back_with_the_reason(prometheus_url: str) -> None:
    spec = Guardrail.model_validate({"spec": BAD_SPEC}).spec
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
        "stableRevision": STABLE,
        "canary": canary,
        "history": [{"revision": STABLE, "promotedAt": "2025-12-31T00:00:00Z"}],
    }
    g = Guardrail.model_validate({"spec": BAD_SPEC, "status": status})
    now = datetime.now(UTC)
    decision = step(g, RolloutObserved(), run(prometheus_url, BAD), now)
    assert decision.status.phase == "RolledBack"
    cond = next(c for c in decision.status.conditions if c.type == "RolloutHealthy")
    assert cond.status == "False"
    assert "blockRateIncrease" in cond.message
    assert cond.last_transition_time == rfc3339(now)
    assert [e.type for e in decision.events] == ["Warning"]
