"""The gates before a candidate's first traffic step: eval gate -> shadow -> step 1, through the rollout state
machine (`step`, `analysis_due`) with the same status, conditions and Events as the canary."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from guardrail_cases import example
from guardrail_contract.durations import rfc3339
from guardrail_contract.gates import EvalGate, Shadow
from guardrail_contract.guardrail import Guardrail
from guardrail_contract.names import ACTION_ANNOTATION, REQUEST_ID_ANNOTATION
from guardrail_operator.reconcile.revision import guardrail_revision, model_revision, scoring_fields
from guardrail_operator.rollout.actions import (
    AnalysisWindow,
    Decision,
    PostEvent,
    RolloutObserved,
)
from guardrail_operator.rollout.analysis import AnalysisResult
from guardrail_operator.rollout.gates import EvalFailed, EvalInconclusive, judge_eval
from guardrail_operator.rollout.machine import ROLLOUT_HEALTHY, analysis_due, step
from guardrail_operator.rollout.shadow import ShadowFailed, ShadowInconclusive, judge, shadow_queries

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
GATE = {"dataset": {"configMap": "eval-set"}, "minAUROC": 0.7, "minLeadProbability": 0.4, "maxFalseBlockRate": 0.2}
SHADOW = {"duration": "2m", "sampleRate": 0.5, "maxDisagreement": 0.1, "minRequests": 50}
GOOD_EVAL = {"candidateAUROC": 0.86, "stableAUROC": 0.84, "leadProbability": 0.71, "falseBlockRate": 0.05, "pairs": 300}
WORSE_EVAL = {
    "candidateAUROC": 0.61,
    "stableAUROC": 0.84,
    "leadProbability": 0.02,
    "falseBlockRate": 0.05,
    "pairs": 300,
}
AGREEING: dict[str, float | None] = {
    "requests": 400.0,
    "disagreement": 0.02,
    "candidateWouldBlock": 0.11,
    "stableBlock": 0.10,
    "scoreShift": -0.01,
    "addedCostMs": 14.0,
    "dropped": 0.0,
}


def spec_doc(threshold: float, gates: bool = True, **rollout: Any) -> dict[str, Any]:
    spec: dict[str, Any] = copy.deepcopy(example()["spec"])
    spec["policy"]["threshold"] = threshold
    if gates:
        spec["rollout"]["evalGate"] = GATE
        spec["rollout"]["shadow"] = SHADOW
    spec["rollout"].update(rollout)
    return spec


STABLE, CANDIDATE = spec_doc(0.5), spec_doc(0.55)


def parsed(spec: dict[str, Any]) -> Guardrail:
    return Guardrail.model_validate({"spec": spec})


def rev(spec: dict[str, Any]) -> str:
    return guardrail_revision(parsed(spec).spec)


def mrev(spec: dict[str, Any]) -> str:
    return model_revision(parsed(spec).spec)


def stable_status() -> dict[str, Any]:
    g = parsed(STABLE).spec
    history: list[dict[str, Any]] = [
        {"revision": rev(STABLE), "promotedAt": rfc3339(T0 - timedelta(days=1)), "modelRevision": mrev(STABLE)}
    ]
    history[0] |= {"reason": "Initial", "scoring": scoring_fields(g)}
    return {"phase": "Healthy", "stableRevision": rev(STABLE), "history": history}


def guardrail(spec: dict[str, Any], status: dict[str, Any], annotations: dict[str, str] | None = None) -> Guardrail:
    meta = {"name": "g", "namespace": "ns", "generation": 2, "annotations": annotations or {}}
    return Guardrail.model_validate({"metadata": meta, "spec": spec, "status": status})


def run(
    g: Guardrail, now: datetime, analysis: AnalysisResult | None = None, ready: bool = True
) -> tuple[Guardrail, Decision]:
    observed = RolloutObserved(frozenset({mrev(STABLE)}) if ready else frozenset())
    decision = step(g, observed, analysis, now)
    after = g.model_copy(update={"status": decision.status})
    return after, decision


def reasons(decision: Decision) -> list[str]:
    return [a.reason for a in decision.actions if isinstance(a, PostEvent)]


def rollout_condition(g: Guardrail) -> tuple[str, str]:
    c = next(c for c in g.status.conditions if c.type == ROLLOUT_HEALTHY)
    return c.status, c.reason


def test_ladder_eval_gate_then_shadow_then_first_step() -> None:
    g, d = run(guardrail(CANDIDATE, stable_status()), T0)
    assert g.status.canary is not None
    assert g.status.canary.state == "EvalGate"
    assert g.status.canary.weight == 0
    assert "EvalGateStarted" in reasons(d)
    window = analysis_due(g, T0)
    assert window == AnalysisWindow(rev(CANDIDATE), rev(STABLE), "0s", stage="eval")

    g, d = run(g, T0 + timedelta(seconds=10), EvalInconclusive("eval Job g-eval-x is running"))
    assert g.status.canary is not None
    assert g.status.canary.state == "EvalGate"
    assert rollout_condition(g) == ("Unknown", "EvalGateRunning")
    assert d.requeue_after is not None

    passed = judge_eval(GOOD_EVAL, EvalGate.model_validate(GATE), "g-eval-x")
    g, d = run(g, T0 + timedelta(seconds=20), passed)
    canary = g.status.canary
    assert canary is not None
    assert canary.state == "Shadow"
    assert canary.weight == 0
    assert canary.eval_gate is not None
    assert canary.eval_gate.passed
    assert (canary.eval_gate.candidate_auroc, canary.eval_gate.lead_probability) == (0.86, 0.71)
    assert reasons(d) == ["EvalGatePassed", "ShadowStarted"]
    shadow_start = T0 + timedelta(seconds=20)
    assert analysis_due(g, shadow_start + timedelta(minutes=1)) is None, "the shadow window is not over yet"
    window = analysis_due(g, shadow_start + timedelta(minutes=2, seconds=1))
    assert window is not None
    assert (window.stage, window.window) == ("shadow", "2m")

    later = shadow_start + timedelta(minutes=2, seconds=1)
    quiet = judge(AGREEING | {"requests": 12.0}, Shadow.model_validate(SHADOW))
    g, d = run(g, later, quiet)
    canary = g.status.canary
    assert canary is not None
    assert canary.state == "Shadow", "inconclusive means wait"
    assert rollout_condition(g) == ("Unknown", "ShadowInconclusive")
    assert canary.shadow is not None
    assert canary.shadow.requests == 12

    g, d = run(g, later + timedelta(seconds=30), judge(AGREEING, Shadow.model_validate(SHADOW)))
    canary = g.status.canary
    assert canary is not None
    assert (canary.state, canary.weight, canary.step) == ("Progressing", 10, 0)
    assert canary.shadow is not None
    assert canary.shadow.disagreement == 0.02
    assert reasons(d) == ["ShadowPassed", "CanaryWeight"]

    # ...and once promoted, the eval gate's figures stay with the revision in the history
    g = g.model_copy(
        update={"status": g.status.model_copy(update={"canary": canary.model_copy(update={"state": "Promoting"})})}
    )
    g, d = run(g, later + timedelta(minutes=5))
    assert g.status.stable_revision == rev(CANDIDATE)
    assert g.status.history[-1].eval_gate is not None
    assert g.status.history[-1].eval_gate.candidate_auroc == 0.86


def test_worse_model_fails_the_eval_gate_with_its_figures_in_status() -> None:
    g, _ = run(guardrail(CANDIDATE, stable_status()), T0)
    failed = judge_eval(WORSE_EVAL, EvalGate.model_validate(GATE), "g-eval-x")
    g, d = run(g, T0 + timedelta(seconds=30), failed)
    canary = g.status.canary
    assert canary is not None
    assert (canary.state, canary.weight) == ("RolledBack", 0)
    assert g.status.phase == "RolledBack"
    assert g.status.stable_revision == rev(STABLE)
    assert canary.eval_gate is not None
    assert not canary.eval_gate.passed
    assert (canary.eval_gate.candidate_auroc, canary.eval_gate.lead_probability) == (0.61, 0.02)
    assert "candidateAUROC 0.61 is below the minimum 0.7" in canary.message
    assert rollout_condition(g) == ("False", "EvalGateFailed")
    events = [a for a in d.actions if isinstance(a, PostEvent) and a.reason == "RolledBack"]
    assert events
    assert events[0].type == "Warning"
    assert "AUROC" in events[0].message


@pytest.mark.parametrize(
    ("figures", "check"),
    [
        (GOOD_EVAL | {"leadProbability": 0.1}, "leadProbability"),
        (GOOD_EVAL | {"falseBlockRate": 0.35}, "falseBlockRate"),
        ({"error": "the v2 server is not usable"}, "evalJob"),
    ],
)
def test_each_eval_limit_fails_the_gate(figures: dict[str, Any], check: str) -> None:
    result = judge_eval(figures, EvalGate.model_validate(GATE), "job")
    assert isinstance(result, EvalFailed)
    assert result.check == check


def test_candidate_blocking_far_more_is_stopped_in_shadow() -> None:
    g, _ = run(guardrail(spec_doc(0.55, gates=False, shadow=SHADOW), stable_status()), T0)
    assert g.status.canary is not None
    assert g.status.canary.state == "Shadow"
    blocking = AGREEING | {"disagreement": 0.6, "candidateWouldBlock": 0.7}
    g, d = run(g, T0 + timedelta(minutes=3), judge(blocking, Shadow.model_validate(SHADOW)))
    canary = g.status.canary
    assert canary is not None
    assert (canary.state, canary.weight) == ("RolledBack", 0)
    assert canary.shadow is not None
    assert canary.shadow.candidate_would_block == 0.7
    assert "disagreement is 0.6" in canary.message
    assert "candidate would block 70%" in canary.message
    assert rollout_condition(g) == ("False", "ShadowFailed")
    assert "RolledBack" in reasons(d)


def test_would_block_increase_fails_even_when_verdicts_mostly_agree() -> None:
    limits = Shadow.model_validate(SHADOW | {"maxDisagreement": 0.5})
    result = judge(AGREEING | {"disagreement": 0.3, "candidateWouldBlock": 0.4, "stableBlock": 0.1}, limits)
    assert isinstance(result, ShadowFailed)
    assert result.check == "wouldBlockIncrease"


def test_no_shadow_data_is_inconclusive_never_a_pass() -> None:
    result = judge({"requests": 500.0, "disagreement": None}, Shadow.model_validate(SHADOW))
    assert isinstance(result, ShadowInconclusive)


def test_without_gates_a_ready_candidate_goes_straight_to_step_one() -> None:
    g, _ = run(guardrail(spec_doc(0.55, gates=False), stable_status()), T0)
    canary = g.status.canary
    assert canary is not None
    assert (canary.state, canary.weight) == ("Progressing", 10)


def test_gates_wait_for_readiness_pause_and_requests() -> None:
    g, _ = run(guardrail(CANDIDATE, stable_status()), T0, ready=False)
    assert g.status.canary is not None
    assert g.status.canary.state == "WaitingForCanary"
    assert analysis_due(g, T0 + timedelta(hours=1)) is None, "no eval Job before the candidate serves"
    model_change = spec_doc(0.5)
    model_change["models"]["nli"]["version"] = "2"
    g, _ = run(guardrail(model_change, stable_status()), T0)
    assert g.status.canary is not None
    assert g.status.canary.state == "WaitingForCanary"

    g, _ = run(guardrail(CANDIDATE, stable_status()), T0)
    paused = g.model_copy(update={"spec": parsed(spec_doc(0.55, paused=True)).spec})
    assert analysis_due(paused, T0 + timedelta(hours=1)) is None
    held, _ = run(paused, T0 + timedelta(hours=1))
    assert held.status.canary is not None
    assert held.status.canary.state == "EvalGate"

    skip = guardrail(
        CANDIDATE, g.status.model_dump(by_alias=True), {ACTION_ANNOTATION: "promote", REQUEST_ID_ANNOTATION: "r1"}
    )
    skipped, d = run(skip, T0 + timedelta(seconds=5))
    assert skipped.status.canary is not None
    assert skipped.status.canary.state == "Shadow", "promote skips one stage"
    assert "GateSkipped" in reasons(d)

    abort = guardrail(
        CANDIDATE, g.status.model_dump(by_alias=True), {ACTION_ANNOTATION: "abort", REQUEST_ID_ANNOTATION: "r2"}
    )
    aborted, _ = run(abort, T0 + timedelta(seconds=5))
    assert aborted.status.canary is not None
    assert aborted.status.canary.state == "RolledBack"


def test_shadow_queries_compare_the_same_answers() -> None:
    queries = shadow_queries(AnalysisWindow("cand", "stab", "5m", stage="shadow"))
    assert queries["requests"] == 'sum(increase(guardrail_shadow_answers_total{revision="cand"}[5m]))'
    assert 'agree="false"' in queries["disagreement"]
    assert 'candidate_verdict="block"' in queries["candidateWouldBlock"]
    assert 'stable_verdict="block"' in queries["stableBlock"]
    assert "guardrail_shadow_score_shift_sum" in queries["scoreShift"]
    assert "guardrail_shadow_scoring_seconds_sum" in queries["addedCostMs"]
