"""Status computation: observed facts in, the Guardrail's next status out. Pure; the one place status is made.

Conditions follow Kubernetes conventions: `lastTransitionTime` changes only when a condition's status does,
so computing status twice from the same facts yields the same object and nothing is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from guardrail_contract.guardrail import Condition, GuardrailStatus, Phase
from guardrail_contract.names import MODEL_REVISION_LABEL
from guardrail_operator.reconcile.observed import Observed, ProbeResult, WorkloadState

READY = "Ready"
TRITON_READY = "TritonReady"
KNOWLEDGE_BASE_READY = "KnowledgeBaseReady"
CONDITION_ORDER = (READY, TRITON_READY, KNOWLEDGE_BASE_READY)


@dataclass(frozen=True)
class Verdict:
    """A condition's value before timestamps are attached."""

    ok: bool
    reason: str
    message: str


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to post about a status transition."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


def triton_verdict(state: WorkloadState, model_revision: str, namespace: str) -> Verdict:
    if not state.found:
        return Verdict(False, "TritonDeploymentMissing", f"Deployment {state.name} does not exist yet.")
    if state.desired == 0:
        return Verdict(False, "TritonScaledToZero", "spec.triton.replicas is 0: raise it to serve scoring.")
    selector = f"{MODEL_REVISION_LABEL}={model_revision}"
    where = f"inspect them with `kubectl -n {namespace} describe pods -l {selector}`"
    if state.stalled_message:
        return Verdict(False, "TritonProgressDeadlineExceeded", f"{state.stalled_message}; {where}.")
    if not state.available:
        return Verdict(
            False,
            "TritonPodsNotReady",
            f"{state.ready}/{state.desired} Triton pods of model revision {model_revision} are ready; "
            f"{where} (GPU capacity, image pull, model repository).",
        )
    return Verdict(True, "TritonAvailable", f"{state.ready}/{state.desired} Triton pods ready.")


def knowledge_base_verdict(observed: Observed) -> Verdict:
    """The store first (nothing is served without it), then the latest ingestion of `sources`."""
    store = _store_verdict(observed)
    if store.ok and observed.ingestion_failure is not None:
        return Verdict(False, *observed.ingestion_failure)
    return store


def _store_verdict(observed: Observed) -> Verdict:
    if observed.qdrant is not None:
        state = observed.qdrant
        if not state.found:
            return Verdict(False, "QdrantStatefulSetMissing", f"StatefulSet {state.name} does not exist yet.")
        if not state.available:
            return Verdict(
                False,
                "QdrantPodsNotReady",
                f"{state.ready}/{state.desired} Qdrant pods of StatefulSet {state.name} are ready; check its "
                "PersistentVolumeClaim is bound and the pod is scheduled.",
            )
        return Verdict(True, "QdrantAvailable", "Managed Qdrant is ready.")
    if observed.external_qdrant is not None:
        return _external_verdict(observed.external_qdrant, observed.external_qdrant_url)
    return Verdict(True, "NoKnowledgeBase", "No spec.knowledgeBase: answers are checked against request context.")


def _external_verdict(probe: ProbeResult, url: str) -> Verdict:
    if probe.ok:
        return Verdict(True, "ExternalQdrantReachable", f"Qdrant at {url} answers its health check.")
    return Verdict(
        False,
        "ExternalQdrantUnreachable",
        f"Qdrant at {url} failed its health check ({probe.detail}); check "
        "spec.knowledgeBase.qdrant.external.url and that the operator's network can reach it.",
    )


ConditionStatus = Literal["True", "False", "Unknown"]


def condition(
    kind: str, status: ConditionStatus, reason: str, message: str, old: list[Condition], now: str, generation: int
) -> Condition:
    """The `kind` condition, for every writer of conditions (status here, the rollout's `RolloutHealthy`):
    `lastTransitionTime` moves to `now` only when the status differs from the one in `old`."""
    previous = next((c for c in old if c.type == kind), None)
    since = previous.last_transition_time if previous is not None and previous.status == status else now
    return Condition(
        type=kind,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=since,
        observed_generation=generation,
    )


def _condition(kind: str, verdict: Verdict, old: list[Condition], now: str, generation: int) -> Condition:
    return condition(kind, "True" if verdict.ok else "False", verdict.reason, verdict.message, old, now, generation)


def merge_conditions(old: list[Condition], new: list[Condition]) -> list[Condition]:
    """`new` replaces conditions of the same type; conditions of other types (e.g. rollout's) are kept."""
    by_type = {c.type: c for c in old} | {c.type: c for c in new}
    rank = {t: i for i, t in enumerate(CONDITION_ORDER)}
    return sorted(by_type.values(), key=lambda c: (rank.get(c.type, len(rank)), c.type))


def compute_status(
    old: GuardrailStatus, generation: int, namespace: str, observed: Observed, now: str
) -> GuardrailStatus:
    """The status to write, the one place it is made: `old` is the rollout's decision (it owns `stableRevision`,
    `history`, `canary`, `lastRequest`, the `RolloutHealthy` condition, and the phase while a canary is in
    progress), the observed facts decide the other conditions and the phase. `now` (RFC 3339) stamps transitions.
    """
    if observed.spec_error is not None:
        verdict = Verdict(False, observed.error_reason, f"{observed.spec_error}. Fix the spec and apply it again.")
        ready = _condition(READY, verdict, old.conditions, now, generation)
        return old.model_copy(
            update={
                "phase": "Degraded",
                "observed_generation": generation,
                "conditions": merge_conditions(old.conditions, [ready]),
            }
        )
    triton = triton_verdict(observed.triton or WorkloadState(name=""), observed.model_revision, namespace)
    kb = knowledge_base_verdict(observed)
    failing = next((v for v in (triton, kb) if not v.ok), None)
    if failing is None:
        overall = Verdict(True, "GuardrailReady", f"Revision {observed.revision} is serving.")
    else:
        reason = "TritonNotReady" if failing is triton else "KnowledgeBaseNotReady"
        overall = Verdict(False, reason, failing.message)
    conditions = [
        _condition(READY, overall, old.conditions, now, generation),
        _condition(TRITON_READY, triton, old.conditions, now, generation),
        _condition(KNOWLEDGE_BASE_READY, kb, old.conditions, now, generation),
    ]
    phase: Phase = "Healthy" if overall.ok else ("Degraded" if old.stable_revision else "Pending")
    if old.canary is not None:  # Progressing, Promoting, RolledBack...: the rollout's phase
        phase = old.phase
    return old.model_copy(
        update={
            "phase": phase,
            "observed_generation": generation,
            "conditions": merge_conditions(old.conditions, conditions),
        }
    )


def transition_events(old: GuardrailStatus, new: GuardrailStatus) -> list[Event]:
    """Events worth a user's attention: phase changes and Ready flips, with the reason."""
    events: list[Event] = []
    old_ready = next((c for c in old.conditions if c.type == READY), None)
    new_ready = next((c for c in new.conditions if c.type == READY), None)
    if new_ready is not None and (old_ready is None or old_ready.status != new_ready.status):
        kind: Literal["Normal", "Warning"] = "Normal" if new_ready.status == "True" else "Warning"
        events.append(Event(kind, new_ready.reason, new_ready.message))
    if new.stable_revision and new.stable_revision != old.stable_revision:
        events.append(Event("Normal", "RevisionServing", f"Revision {new.stable_revision} is now stable."))
    if old.phase != new.phase:
        events.append(
            Event(
                "Warning" if new.phase == "Degraded" else "Normal",
                f"Phase{new.phase}",
                f"Phase changed from {old.phase} to {new.phase}.",
            )
        )
    return events


def status_patch(stored: Mapping[str, Any] | None, new: GuardrailStatus) -> dict[str, Any] | None:
    """A JSON merge patch turning the stored `.status` into `new`, or None when nothing would change."""
    before = dict(stored or {})
    after = new.model_dump(mode="json", by_alias=True, exclude_none=True)
    patch: dict[str, Any] = {k: v for k, v in after.items() if before.get(k) != v}
    patch.update({k: None for k in before if k not in after})
    return {"status": patch} if patch else None
