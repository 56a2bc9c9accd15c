"""The rollout state machine as a table: (spec, status, request, readiness, analysis, now) -> status + actions."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from guardrail_cases import example
from guardrail_contract.durations import rfc3339
from guardrail_contract.guardrail import Guardrail, GuardrailStatus
from guardrail_operator.reconcile.observed import Observed, WorkloadState
from guardrail_operator.reconcile.revision import guardrail_revision, model_revision, scoring_fields
from guardrail_operator.reconcile.status import compute_status
from guardrail_operator.rollout.actions import (
    ACTION_ANNOTATION,
    REQUEST_ID_ANNOTATION,
    EnsureRevision,
    PostEvent,
    Prune,
    RolloutObserved,
)
from guardrail_operator.rollout.analysis import CheckValue, Failed, Inconclusive, Passed
from guardrail_operator.rollout.machine import ROLLOUT_HEALTHY, analysis_due, step

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
PASSED = Passed(400, (CheckValue("blockRateIncrease", 0.01, 0.05),))
FAILED = Failed("blockRateIncrease", 0.42, 0.05)
QUIET = Inconclusive("12 canary requests in the window, fewer than minRequests 200; waiting")


def spec_doc(**changes: Any) -> dict[str, Any]:
    """The example spec; `policy_threshold`, `nli_version`, `paused`, `no_prometheus` change it."""
    spec = copy.deepcopy(example()["spec"])
    if "policy_threshold" in changes:
        spec["policy"]["threshold"] = changes["policy_threshold"]
    if "nli_version" in changes:
        spec["models"]["nli"]["version"] = changes["nli_version"]
    if changes.get("paused"):
        spec["rollout"]["paused"] = True
    if changes.get("no_prometheus"):
        del spec["rollout"]["analysis"]["prometheus"]
    return spec


V1 = spec_doc()  # stable
V2 = spec_doc(policy_threshold=0.55)  # policy change: same models, same Triton
V3 = spec_doc(nli_version="2")  # model change: its own Triton
V0 = spec_doc(policy_threshold=0.4)  # an older stable


def rev(spec: dict[str, Any]) -> str:
    return guardrail_revision(Guardrail.model_validate({"spec": spec}).spec)


def mrev(spec: dict[str, Any]) -> str:
    return model_revision(Guardrail.model_validate({"spec": spec}).spec)


def entry(spec: dict[str, Any], reason: str = "Promoted", at: datetime = T0 - timedelta(days=1)) -> dict[str, Any]:
    parsed = Guardrail.model_validate({"spec": spec}).spec
    return {
        "revision": rev(spec),
        "promotedAt": rfc3339(at),
        "modelRevision": mrev(spec),
        "reason": reason,
        "scoring": scoring_fields(parsed),
    }


def stable_status(*history: dict[str, Any]) -> dict[str, Any]:
    hist = list(history) or [entry(V1, "Initial")]
    return {"phase": "Healthy", "stableRevision": hist[-1]["revision"], "history": hist}


def canary(
    spec: dict[str, Any], state: str, weight: int = 0, step_: int = 0, started: datetime = T0, failures: int = 0
) -> dict[str, Any]:
    return {
        "revision": rev(spec),
        "modelRevision": mrev(spec),
        "state": state,
        "weight": weight,
        "step": step_,
        "stepStartedAt": rfc3339(started),
        "startedAt": rfc3339(started),
        "failures": failures,
    }


def with_canary(c: dict[str, Any], *history: dict[str, Any]) -> dict[str, Any]:
    return stable_status(*history) | {"phase": "Progressing", "canary": c}


def request(action: str, request_id: str = "r1") -> dict[str, str]:
    return {ACTION_ANNOTATION: action, REQUEST_ID_ANNOTATION: request_id}


AFTER_STEP = T0 + timedelta(minutes=5, seconds=1)
WITHIN_STEP = T0 + timedelta(minutes=2)


@dataclass
class Case:
    id: str
    spec: dict[str, Any]
    status: dict[str, Any]
    expect: dict[str, Any]
    ready: tuple[str, ...] = ()
    analysis: Passed | Failed | Inconclusive | None = None
    now: datetime = T0
    annotations: dict[str, str] = field(default_factory=dict)


CASES = [
    Case("first revision waits for its Triton", V1, {}, {"stable": "", "canary": None, "ensure": [("stable", V1)]}),
    Case(
        "first revision serves once ready, no canary",
        V1,
        {},
        ready=(mrev(V1),),
        expect={"stable": rev(V1), "canary": None, "history": ["Initial"], "keep": {rev(V1)}},
    ),
    Case(
        "new revision starts a canary sharing the stable Triton",
        V2,
        stable_status(),
        {
            "phase": "Progressing",
            "canary": {"revision": rev(V2), "state": "WaitingForCanary", "weight": 0},
            "events": ["CanaryStarted"],
            "ensure": [("stable", V1), ("canary", V2)],
            "own_triton": False,
            "keep": {rev(V1), rev(V2)},
        },
    ),
    Case(
        "changed models give the canary its own Triton",
        V3,
        stable_status(),
        {"canary": {"state": "WaitingForCanary"}, "own_triton": True, "keep_models": {mrev(V1), mrev(V3)}},
    ),
    Case(
        "a canary already ready gets the first step at once",
        V3,
        stable_status(),
        ready=(mrev(V1), mrev(V3)),
        expect={
            "canary": {"state": "Progressing", "weight": 10, "step": 0},
            "events": ["CanaryStarted", "CanaryWeight"],
            "requeue": timedelta(minutes=5),
        },
    ),
    Case(
        "waiting canary stays at 0% until ready",
        V3,
        with_canary(canary(V3, "WaitingForCanary")),
        {"canary": {"state": "WaitingForCanary", "weight": 0}, "events": [], "condition": ("True", "WaitingForCanary")},
    ),
    Case(
        "ready canary moves to the first step",
        V3,
        with_canary(canary(V3, "WaitingForCanary")),
        ready=(mrev(V3),),
        now=WITHIN_STEP,
        expect={"canary": {"state": "Progressing", "weight": 10, "stepStartedAt": rfc3339(WITHIN_STEP)}},
    ),
    Case(
        "within the step interval nothing moves",
        V2,
        with_canary(canary(V2, "Progressing", 10)),
        now=WITHIN_STEP,
        analysis=PASSED,
        expect={"canary": {"weight": 10, "step": 0}, "events": [], "requeue": timedelta(minutes=3)},
    ),
    Case(
        "passed analysis advances to the next step",
        V2,
        with_canary(canary(V2, "Progressing", 10)),
        now=AFTER_STEP,
        analysis=PASSED,
        expect={
            "canary": {"weight": 50, "step": 1, "failures": 0, "stepStartedAt": rfc3339(AFTER_STEP)},
            "events": ["CanaryWeight"],
            "condition": ("True", "CanaryProgressing"),
        },
    ),
    Case(
        "the last step sets 100% and promotes next",
        V2,
        with_canary(canary(V2, "Progressing", 50, 1)),
        now=AFTER_STEP,
        analysis=PASSED,
        expect={"canary": {"weight": 100, "step": 2, "state": "Promoting"}, "requeue": timedelta(0)},
    ),
    Case(
        "at 100% the canary becomes stable and old children are pruned",
        V3,
        with_canary(canary(V3, "Promoting", 100, 2)),
        {
            "stable": rev(V3),
            "canary": None,
            "phase": "Healthy",
            "history": ["Initial", "Promoted"],
            "events": ["Promoted"],
            "keep": {rev(V3)},
            "keep_models": {mrev(V3)},
            "condition": ("True", "Promoted"),
        },
    ),
    Case(
        "too little traffic is inconclusive: wait, never promote",
        V2,
        with_canary(canary(V2, "Progressing", 50, 1)),
        now=AFTER_STEP,
        analysis=QUIET,
        expect={
            "canary": {"weight": 50, "state": "Inconclusive", "message": QUIET.describe()},
            "condition": ("Unknown", "AnalysisInconclusive"),
            "requeue": timedelta(seconds=30),
        },
    ),
    Case(
        "no analysis result yet is inconclusive too",
        V2,
        with_canary(canary(V2, "Progressing", 10)),
        now=AFTER_STEP,
        expect={"canary": {"weight": 10, "state": "Inconclusive"}},
    ),
    Case(
        "inconclusive then passed advances",
        V2,
        with_canary(canary(V2, "Inconclusive", 10)),
        now=AFTER_STEP,
        analysis=PASSED,
        expect={"canary": {"weight": 50, "state": "Progressing"}},
    ),
    Case(
        "a failed analysis below failureLimit waits another interval",
        V2,
        with_canary(canary(V2, "Progressing", 10)),
        now=AFTER_STEP,
        analysis=FAILED,
        expect={
            "canary": {"weight": 10, "failures": 1, "stepStartedAt": rfc3339(AFTER_STEP)},
            "events": [],
            "phase": "Progressing",
        },
    ),
    Case(
        "failureLimit consecutive failures roll back",
        V3,
        with_canary(canary(V3, "Progressing", 50, 1, failures=1)),
        now=AFTER_STEP,
        analysis=FAILED,
        expect={
            "phase": "RolledBack",
            "stable": rev(V1),
            "canary": {"revision": rev(V3), "weight": 0, "state": "RolledBack", "failures": 2},
            "condition": ("False", "AnalysisFailed", "blockRateIncrease is 0.42, above the limit 0.05"),
            "events": ["RolledBack"],
            "warning": True,
            "ensure": [("stable", V1)],
            "keep": {rev(V1)},
            "keep_models": {mrev(V1)},
        },
    ),
    Case(
        "a rolled-back revision stays out of traffic",
        V3,
        with_canary(canary(V3, "RolledBack")) | {"phase": "RolledBack"},
        now=AFTER_STEP,
        analysis=PASSED,
        expect={"phase": "RolledBack", "canary": {"state": "RolledBack", "weight": 0}, "events": []},
    ),
    Case(
        "paused holds the weight even when analysis passes",
        spec_doc(policy_threshold=0.55, paused=True),
        with_canary(canary(V2, "Progressing", 10)),
        now=AFTER_STEP,
        analysis=PASSED,
        expect={"canary": {"state": "Paused", "weight": 10, "step": 0}, "condition": ("True", "Paused")},
    ),
    Case(
        "paused before the first step stays at 0% even when ready",
        spec_doc(policy_threshold=0.55, paused=True),
        with_canary(canary(V2, "WaitingForCanary")),
        ready=(mrev(V2),),
        expect={"canary": {"state": "WaitingForCanary", "weight": 0}, "condition": ("True", "Paused")},
    ),
    Case(
        "paused at 100% is not promoted",
        spec_doc(policy_threshold=0.55, paused=True),
        with_canary(canary(V2, "Promoting", 100, 2)),
        expect={"stable": rev(V1), "canary": {"state": "Paused", "weight": 100}},
    ),
    Case(
        "resumed at 100% is promoted",
        V2,
        with_canary(canary(V2, "Paused", 100, 2)),
        expect={"stable": rev(V2), "canary": None, "events": ["Promoted"]},
    ),
    Case(
        "a step without a start time is due, not stuck",
        V2,
        with_canary(canary(V2, "Progressing", 10) | {"stepStartedAt": ""}),
        analysis=PASSED,
        expect={"canary": {"weight": 50, "stepStartedAt": rfc3339(T0)}},
    ),
    Case(
        "resume continues where it paused",
        V2,
        with_canary(canary(V2, "Paused", 10)),
        now=AFTER_STEP,
        analysis=PASSED,
        expect={"canary": {"state": "Progressing", "weight": 50}},
    ),
    Case(
        "abort rolls back and acknowledges the request",
        V2,
        with_canary(canary(V2, "Progressing", 50, 1)),
        annotations=request("abort"),
        now=WITHIN_STEP,
        expect={
            "phase": "RolledBack",
            "canary": {"weight": 0, "state": "RolledBack"},
            "condition": ("False", "Aborted"),
            "ack": ("r1", "rolled back"),
            "events": ["RolledBack"],
        },
    ),
    Case(
        "an acknowledged request is not acted on again",
        V2,
        with_canary(canary(V2, "Progressing", 50, 1)) | {"lastRequest": {"id": "r1", "action": "abort"}},
        annotations=request("abort"),
        now=WITHIN_STEP,
        expect={"phase": "Progressing", "canary": {"weight": 50, "state": "Progressing"}},
    ),
    Case(
        "promote skips to the next step without analysis",
        V2,
        with_canary(canary(V2, "Progressing", 10)),
        annotations=request("promote"),
        now=WITHIN_STEP,
        expect={"canary": {"weight": 50, "step": 1}, "ack": ("r1", "advanced")},
    ),
    Case(
        "promote --full promotes at once",
        V2,
        with_canary(canary(V2, "Progressing", 10)),
        annotations=request("promote-full"),
        now=WITHIN_STEP,
        expect={"stable": rev(V2), "canary": None, "events": ["Promoted"], "ack": ("r1", "promoted")},
    ),
    Case(
        "undo mid-canary goes back to the stable",
        V2,
        with_canary(canary(V2, "Progressing", 10)),
        annotations=request("undo"),
        expect={
            "phase": "RolledBack",
            "stable": rev(V1),
            "condition": ("False", "Undone"),
            "canary": {"state": "RolledBack"},
        },
    ),
    Case(
        "undo without a canary returns to the previous stable and rejects the current one",
        V1,
        stable_status(entry(V0, "Initial"), entry(V1)),
        annotations=request("undo"),
        expect={
            "phase": "RolledBack",
            "stable": rev(V0),
            "history": ["Initial", "Promoted", "Undo"],
            "canary": {"revision": rev(V1), "state": "RolledBack"},
            "ensure": [("stable", V0)],
            "keep": {rev(V0)},
            "ack": ("r1", "undone"),
        },
    ),
    Case(
        "undo with no earlier revision is acknowledged and ignored",
        V1,
        stable_status(),
        annotations=request("undo"),
        expect={"stable": rev(V1), "canary": None, "ack": ("r1", "ignored")},
    ),
    Case(
        "promote on a rolled-back revision retries it",
        V3,
        with_canary(canary(V3, "RolledBack")) | {"phase": "RolledBack"},
        annotations=request("promote"),
        expect={"phase": "Progressing", "canary": {"state": "WaitingForCanary", "weight": 0}, "ack": ("r1", "retry")},
    ),
    Case(
        "a new spec mid-canary restarts from the new revision",
        V3,
        with_canary(canary(V2, "Progressing", 50, 1)),
        now=WITHIN_STEP,
        expect={
            "canary": {"revision": rev(V3), "weight": 0, "step": 0, "state": "WaitingForCanary"},
            "events": ["CanaryRestarted", "CanaryStarted"],
            "keep": {rev(V1), rev(V3)},
        },
    ),
    Case(
        "re-applying an earlier stable spec rolls back without a canary",
        V0,
        stable_status(entry(V0, "Initial"), entry(V1)),
        {
            "stable": rev(V0),
            "canary": None,
            "history": ["Initial", "Promoted", "Rollback"],
            "events": ["RollbackToRevision"],
            "keep": {rev(V0)},
            "condition": ("True", "RollbackToStable"),
        },
    ),
    Case(
        "re-applying an earlier spec mid-canary cancels the canary",
        V0,
        with_canary(canary(V2, "Progressing", 10), entry(V0, "Initial"), entry(V1)),
        {"stable": rev(V0), "canary": None, "events": ["CanaryCancelled", "RollbackToRevision"]},
    ),
    Case(
        "the spec returned to stable mid-canary removes the canary",
        V1,
        with_canary(canary(V2, "Progressing", 10)),
        {"stable": rev(V1), "canary": None, "phase": "Healthy", "events": ["CanaryCancelled"], "keep": {rev(V1)}},
    ),
    Case(
        "without Prometheus steps advance on time alone",
        spec_doc(policy_threshold=0.55, no_prometheus=True),
        with_canary(canary(V2, "Progressing", 10)),
        now=AFTER_STEP,
        expect={"canary": {"weight": 50}},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_transition(case: Case) -> None:
    body = {
        "metadata": {"name": "g", "generation": 3, "annotations": case.annotations},
        "spec": case.spec,
        "status": case.status,
    }
    decision = step(Guardrail.model_validate(body), RolloutObserved(frozenset(case.ready)), case.analysis, case.now)
    out = decision.status.model_dump(mode="json", by_alias=True)
    exp = case.expect
    if "stable" in exp:
        assert out["stableRevision"] == exp["stable"]
    if "phase" in exp:
        assert out["phase"] == exp["phase"]
    if "canary" in exp:
        if exp["canary"] is None:
            assert out["canary"] is None
        else:
            assert out["canary"] is not None
            assert {k: out["canary"][k] for k in exp["canary"]} == exp["canary"]
    if "history" in exp:
        assert [h["reason"] for h in out["history"]] == exp["history"]
        assert out["history"][-1]["revision"] == out["stableRevision"]
    events = decision.events
    if "events" in exp:
        assert [e.reason for e in events] == exp["events"]
    if exp.get("warning"):
        assert events[-1].type == "Warning"
    ensures = [a for a in decision.actions if isinstance(a, EnsureRevision)]
    if "ensure" in exp:
        assert [(a.role, a.revision) for a in ensures] == [(role, rev(s)) for role, s in exp["ensure"]]
        for a in ensures:  # the spec handed over renders exactly the revision it names
            assert guardrail_revision(a.spec) == a.revision
    if "own_triton" in exp:
        assert next(a for a in ensures if a.role == "canary").own_triton is exp["own_triton"]
    prunes = [a for a in decision.actions if isinstance(a, Prune)]
    if "keep" in exp:
        assert prunes[0].keep_revisions == exp["keep"]
    if "keep_models" in exp:
        assert prunes[0].keep_model_revisions == exp["keep_models"]
    if "condition" in exp:
        cond = next(c for c in out["conditions"] if c["type"] == ROLLOUT_HEALTHY)
        assert (cond["status"], cond["reason"]) == exp["condition"][:2]
        assert cond["observedGeneration"] == 3
        if len(exp["condition"]) > 2:
            assert exp["condition"][2] in cond["message"]
            assert exp["condition"][2] in events[-1].message
    if "ack" in exp:
        assert out["lastRequest"]["id"] == exp["ack"][0]
        assert exp["ack"][1] in out["lastRequest"]["result"]
    if "requeue" in exp:
        assert decision.requeue_after == exp["requeue"]


def test_a_restarted_operator_continues_from_status() -> None:
    """Status serialised through the API (JSON) and read back by a new process decides exactly the same."""
    g = Guardrail.model_validate({"spec": V2, "status": with_canary(canary(V2, "Progressing", 10))})
    first = step(g, RolloutObserved(), PASSED, AFTER_STEP)
    stored = first.status.model_dump(mode="json", by_alias=True, exclude_none=True)
    resumed = Guardrail.model_validate({"spec": V2, "status": stored})
    later = AFTER_STEP + timedelta(minutes=5, seconds=1)
    a = step(g.model_copy(update={"status": first.status}), RolloutObserved(), PASSED, later)
    b = step(resumed, RolloutObserved(), PASSED, later)
    assert a.status == b.status
    assert b.status.canary is not None
    assert b.status.canary.state == "Promoting"


def test_a_good_canary_walks_every_step_to_promotion() -> None:
    """10 -> 50 -> 100 -> promoted, driven call after call as the reconciler would."""
    g = Guardrail.model_validate({"spec": V3, "status": stable_status()})
    observed, now, weights = RolloutObserved(frozenset({mrev(V1), mrev(V3)})), T0, []
    for _ in range(10):
        window = analysis_due(g, now)
        decision = step(g, observed, PASSED if window else None, now)
        g = g.model_copy(update={"status": decision.status})
        weights.append(decision.status.canary.weight if decision.status.canary else None)
        if decision.status.canary is None:
            break
        now += decision.requeue_after or timedelta(seconds=30)
    assert weights == [10, 50, 100, None]
    assert g.status.stable_revision == rev(V3)


def test_analysis_is_due_only_after_the_step_interval() -> None:
    g = Guardrail.model_validate({"spec": V2, "status": with_canary(canary(V2, "Progressing", 10))})
    assert analysis_due(g, WITHIN_STEP) is None
    window = analysis_due(g, AFTER_STEP)
    assert window is not None
    assert (window.canary_revision, window.stable_revision, window.window) == (rev(V2), rev(V1), "5m")
    paused = Guardrail.model_validate(
        {"spec": spec_doc(policy_threshold=0.55, paused=True), "status": with_canary(canary(V2, "Progressing", 10))}
    )
    assert analysis_due(paused, AFTER_STEP) is None


def test_events_are_typed_post_event_actions() -> None:
    g = Guardrail.model_validate({"spec": V2, "status": stable_status()})
    decision = step(g, RolloutObserved(), None, T0)
    assert all(isinstance(e, PostEvent) for e in decision.events)
    assert GuardrailStatus.model_validate(decision.status.model_dump(by_alias=True)) == decision.status


def test_the_status_written_keeps_the_rollouts_fields() -> None:
    """The one status writer starts from the decision: a ready Triton during a canary promotes nothing."""
    g = Guardrail.model_validate({"spec": V2, "status": with_canary(canary(V2, "Progressing", 10))})
    decision = step(g, RolloutObserved(), None, WITHIN_STEP)
    ready = WorkloadState("gr-triton", found=True, desired=1, ready=1)
    written = compute_status(decision.status, 1, "shop", Observed(revision=rev(V2), triton=ready), rfc3339(WITHIN_STEP))
    assert (written.phase, written.stable_revision) == ("Progressing", rev(V1))
    assert written.canary == decision.status.canary
    assert written.history == decision.status.history
    assert {c.type for c in written.conditions} >= {"Ready", ROLLOUT_HEALTHY}
