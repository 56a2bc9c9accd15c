"""Status computation: a table of (previous status, observed facts) -> phase, conditions, reasons."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from guardrail_contract.guardrail import CanaryStatus, Condition, GuardrailStatus, HistoryEntry
from guardrail_operator.reconcile.observed import Observed, ProbeResult, WorkloadState, workload_state
from guardrail_operator.reconcile.status import compute_status, status_patch, transition_events

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"
TRITON_OK = WorkloadState("gr-triton-m1", found=True, desired=1, ready=1)
TRITON_DOWN = WorkloadState("gr-triton-m1", found=True, desired=1, ready=0)
QDRANT_OK = WorkloadState("gr-qdrant", found=True, desired=1, ready=1)
QDRANT_DOWN = WorkloadState("gr-qdrant", found=True, desired=1, ready=0)
HEALTHY_BEFORE = GuardrailStatus(phase="Healthy", observed_generation=1, stable_revision="r1")


def facts(**kw: object) -> Observed:
    base: dict[str, object] = {
        "revision": "r1",
        "model_revision": "m1",
        "triton": TRITON_OK,
        "qdrant": QDRANT_OK,
    }
    return Observed(**{**base, **kw})  # type: ignore[arg-type]


@dataclass
class Case:
    name: str
    observed: Observed
    phase: str
    conditions: dict[str, tuple[str, str]]  # type -> (status, reason)
    old: GuardrailStatus = field(default_factory=GuardrailStatus)


CASES = [
    Case(
        "all ready",
        facts(),
        "Healthy",
        {
            "Ready": ("True", "GuardrailReady"),
            "TritonReady": ("True", "TritonAvailable"),
            "KnowledgeBaseReady": ("True", "QdrantAvailable"),
        },
    ),
    Case(
        "triton pods not ready on first rollout",
        facts(triton=TRITON_DOWN),
        "Pending",
        {"Ready": ("False", "TritonNotReady"), "TritonReady": ("False", "TritonPodsNotReady")},
    ),
    Case(
        "triton lost after being healthy",
        facts(triton=TRITON_DOWN),
        "Degraded",
        {"Ready": ("False", "TritonNotReady")},
        HEALTHY_BEFORE,
    ),
    Case(
        "triton deployment missing",
        facts(triton=WorkloadState("gr-triton-m1")),
        "Pending",
        {"TritonReady": ("False", "TritonDeploymentMissing")},
    ),
    Case(
        "triton scaled to zero",
        facts(triton=WorkloadState("gr-triton-m1", found=True, desired=0)),
        "Pending",
        {"TritonReady": ("False", "TritonScaledToZero")},
    ),
    Case(
        "triton progress deadline",
        facts(triton=WorkloadState("t", True, 1, 0, "ReplicaSet timed out")),
        "Pending",
        {"TritonReady": ("False", "TritonProgressDeadlineExceeded")},
    ),
    Case(
        "managed qdrant not ready",
        facts(qdrant=QDRANT_DOWN),
        "Pending",
        {"Ready": ("False", "KnowledgeBaseNotReady"), "KnowledgeBaseReady": ("False", "QdrantPodsNotReady")},
    ),
    Case(
        "external qdrant unreachable",
        facts(qdrant=None, external_qdrant=ProbeResult(False, "ConnectError")),
        "Pending",
        {
            "KnowledgeBaseReady": ("False", "ExternalQdrantUnreachable"),
            "TritonReady": ("True", "TritonAvailable"),
        },
    ),
    Case(
        "external qdrant reachable",
        facts(qdrant=None, external_qdrant=ProbeResult(True)),
        "Healthy",
        {"KnowledgeBaseReady": ("True", "ExternalQdrantReachable")},
    ),
    Case(
        "no knowledge base",
        facts(qdrant=None),
        "Healthy",
        {"KnowledgeBaseReady": ("True", "NoKnowledgeBase")},
    ),
    Case(
        "invalid spec",
        Observed(spec_error="invalid spec: spec.policy.threshold: too big"),
        "Degraded",
        {"Ready": ("False", "InvalidSpec")},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_status_table(case: Case) -> None:
    new = compute_status(case.old, 2, "shop", case.observed, T0)
    assert new.phase == case.phase
    assert new.observed_generation == 2
    got = {c.type: (c.status, c.reason) for c in new.conditions}
    for kind, expected in case.conditions.items():
        assert got[kind] == expected
    assert all(c.observed_generation == 2 and c.message for c in new.conditions)


def test_messages_tell_the_user_where_to_look() -> None:
    new = compute_status(GuardrailStatus(), 1, "shop", facts(triton=TRITON_DOWN), T0)
    ready = next(c for c in new.conditions if c.type == "Ready")
    assert "0/1 Triton pods" in ready.message
    assert "kubectl -n shop describe pods -l guardrails.dev/model-revision=m1" in ready.message
    kb = compute_status(
        GuardrailStatus(),
        1,
        "shop",
        facts(qdrant=None, external_qdrant=ProbeResult(False, "timed out"), external_qdrant_url="http://q:6333"),
        T0,
    )
    message = next(c for c in kb.conditions if c.type == "KnowledgeBaseReady").message
    assert "http://q:6333" in message
    assert "timed out" in message


def test_the_rollout_owns_stable_revision_and_history() -> None:
    """compute_status never promotes: `stableRevision` and `history` are the rollout's (its decision is `old`)."""
    first = compute_status(GuardrailStatus(), 1, "shop", facts(), T0)
    assert (first.phase, first.stable_revision, first.history) == ("Healthy", "", [])
    promoted = first.model_copy(
        update={"stable_revision": "r1", "history": [HistoryEntry(revision="r1", promoted_at=T0)]}
    )
    again = compute_status(promoted, 1, "shop", facts(), T1)
    assert again == promoted
    assert status_patch(promoted.model_dump(mode="json", by_alias=True, exclude_none=True), again) is None


def test_the_rollout_phase_wins_while_a_canary_is_in_progress() -> None:
    progressing = HEALTHY_BEFORE.model_copy(
        update={"phase": "Progressing", "canary": CanaryStatus(revision="r2", weight=10, state="Progressing")}
    )
    new = compute_status(progressing, 1, "shop", facts(), T0)
    assert (new.phase, new.stable_revision, new.canary) == ("Progressing", "r1", progressing.canary)
    assert compute_status(HEALTHY_BEFORE, 1, "shop", facts(triton=TRITON_DOWN), T0).phase == "Degraded"


def test_transition_time_changes_only_with_status() -> None:
    down = compute_status(GuardrailStatus(), 1, "shop", facts(triton=TRITON_DOWN), T0)
    still_down = compute_status(down, 1, "shop", facts(triton=WorkloadState("gr-triton-m1")), T1)
    ready_before = next(c for c in down.conditions if c.type == "Ready")
    ready_after = next(c for c in still_down.conditions if c.type == "Ready")
    assert ready_after.last_transition_time == ready_before.last_transition_time == T0
    up = compute_status(still_down, 1, "shop", facts(), T1)
    assert next(c for c in up.conditions if c.type == "Ready").last_transition_time == T1


def test_invalid_spec_keeps_stable_revision_and_foreign_conditions() -> None:
    rollout = Condition(type="RolloutHealthy", status="True", reason="NoRollout")
    old = HEALTHY_BEFORE.model_copy(update={"conditions": [rollout]})
    new = compute_status(old, 3, "shop", Observed(spec_error="bad"), T0)
    assert new.stable_revision == "r1"
    assert "RolloutHealthy" in {c.type for c in new.conditions}


def test_events_on_transitions_only() -> None:
    pending = compute_status(GuardrailStatus(), 1, "shop", facts(triton=TRITON_DOWN), T0)
    assert [e.reason for e in transition_events(GuardrailStatus(), pending)] == ["TritonNotReady"]
    promoted = pending.model_copy(update={"stable_revision": "r1"})  # what the rollout's first step does
    healthy = compute_status(promoted, 1, "shop", facts(), T1)
    events = transition_events(pending, healthy)
    assert [(e.type, e.reason) for e in events] == [
        ("Normal", "GuardrailReady"),
        ("Normal", "RevisionServing"),
        ("Normal", "PhaseHealthy"),
    ]
    assert transition_events(healthy, compute_status(healthy, 1, "shop", facts(), T1)) == []


def test_status_patch_clears_removed_fields() -> None:
    from guardrail_contract.guardrail import CanaryStatus

    old = GuardrailStatus(canary=CanaryStatus(revision="r2")).model_dump(mode="json", by_alias=True, exclude_none=True)
    patch = status_patch(old, GuardrailStatus())
    assert patch == {"status": {"canary": None}}


def test_status_patch_writes_defaults_missing_from_the_stored_status() -> None:
    patch = status_patch({}, GuardrailStatus())
    assert patch is not None
    assert patch["status"]["phase"] == "Pending"


def test_workload_state_follows_the_deployment_available_condition() -> None:
    deployment = {
        "spec": {"replicas": 2},
        "status": {"readyReplicas": 1, "conditions": [{"type": "Available", "status": "True"}]},
    }
    state = workload_state("d", deployment)
    assert (state.ready, state.desired, state.available) == (1, 2, True)
    deployment["status"]["conditions"] = [{"type": "Available", "status": "False"}]
    assert workload_state("d", deployment).available is False


def test_statefulset_needs_every_pod_ready() -> None:
    sts = {"spec": {"replicas": 1}, "status": {"readyReplicas": 0}}
    assert workload_state("s", sts).available is False
    sts["status"]["readyReplicas"] = 1
    assert workload_state("s", sts).available is True
    assert workload_state("s", None).found is False
