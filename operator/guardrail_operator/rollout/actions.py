"""The vocabulary of the rollout state machine: what it observes, what it decides, and the small pure helpers
it needs (durations, manual requests, the spec of an earlier revision). Pure: no clock, network or API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from guardrail_contract.detectors import Detector
from guardrail_contract.guardrail import GuardrailSpec, GuardrailStatus, HistoryEntry, KnowledgeBase, RolloutRequest
from guardrail_contract.names import ACTION_ANNOTATION, REQUEST_ID_ANNOTATION

ACTIONS = ("promote", "promote-full", "abort", "undo")
RequestAction = Literal["promote", "promote-full", "abort", "undo"]


@dataclass(frozen=True)
class Request:
    """A manual rollout request read from the Guardrail's annotations, not yet acknowledged in status."""

    id: str
    action: str  # one of ACTIONS, or anything else (acknowledged as unknown, never acted on)


def pending_request(annotations: Mapping[str, str], last: RolloutRequest | None) -> Request | None:
    """The request the annotations carry, unless status already acknowledged its id.

    Without a request-id annotation the action itself is the id, so a bare `kubectl annotate ... =promote`
    works once; set a new `guardrails.dev/rollout-request-id` to repeat an action.
    """
    action = annotations.get(ACTION_ANNOTATION, "").strip()
    if not action:
        return None
    request_id = annotations.get(REQUEST_ID_ANNOTATION, "").strip() or action
    if last is not None and last.id == request_id:
        return None
    return Request(request_id, action)


def rollout_request_pending(body: Mapping[str, Any]) -> bool:
    """True when a Guardrail object (as delivered by a watch) carries a request its status has not acknowledged."""
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    raw = (body.get("status") or {}).get("lastRequest")
    try:
        last = RolloutRequest.model_validate(raw) if raw else None
    except ValueError:
        last = None
    return pending_request(annotations, last) is not None


@dataclass(frozen=True)
class RolloutObserved:
    """Facts about the children: which model revisions have a serving Triton Deployment (`Available`)."""

    ready_model_revisions: frozenset[str] = frozenset()

    def ready(self, model_revision: str) -> bool:
        return model_revision in self.ready_model_revisions


@dataclass(frozen=True)
class AnalysisWindow:
    """What the reconciler must ask Prometheus now: canary vs stable over the last `window` (e.g. `5m`)."""

    canary_revision: str
    stable_revision: str
    window: str
    stage: Literal["canary", "shadow", "eval"] = "canary"  # shadow/eval: the gates before step 1 (`gates`)


@dataclass(frozen=True)
class EnsureRevision:
    """Level-based: this revision's children must exist. Render its revision ConfigMap from `spec`; its Triton
    Deployment + Service + model ConfigMap for `model_revision` (`own_triton` is False when it shares the
    other served revision's Triton, i.e. the models did not change)."""

    revision: str
    model_revision: str
    role: Literal["stable", "canary"]
    spec: GuardrailSpec
    own_triton: bool = True


@dataclass(frozen=True)
class Prune:
    """Delete children of every revision and model revision not listed (old canaries, superseded stables)."""

    keep_revisions: frozenset[str]
    keep_model_revisions: frozenset[str]


@dataclass(frozen=True)
class PostEvent:
    """A Kubernetes Event on the Guardrail."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


Action = EnsureRevision | Prune | PostEvent


def spec_at(spec: GuardrailSpec, entry: HistoryEntry) -> GuardrailSpec:
    """`spec` with the scoring fields of an earlier revision (from its history entry) laid over it."""
    snap = entry.scoring
    if not snap:
        return spec
    update: dict[str, Any] = {
        "models": type(spec.models).model_validate(snap["models"]),
        "policy": type(spec.policy).model_validate(snap["policy"]),
        # left out of the snapshot when there were none: the earlier revision had no detectors, whatever spec says
        "detectors": [Detector.model_validate(d) for d in snap.get("detectors", [])],
    }
    kb, old_kb = spec.knowledge_base, snap.get("knowledgeBase")
    if old_kb is None:
        update["knowledge_base"] = None
    elif kb is not None:  # the Qdrant server is not part of a revision: the current one is used
        update["knowledge_base"] = KnowledgeBase.model_validate(kb.model_dump(by_alias=True) | old_kb)
    return spec.model_copy(update=update)


@dataclass(frozen=True)
class Decision:
    """The rollout's verdict for one reconcile: the status to write, the actions to carry out, and when to come
    back (`requeue_after`: a step interval ends or analysis must be retried; None when nothing is timed)."""

    status: GuardrailStatus
    actions: list[Action] = field(default_factory=list)
    requeue_after: timedelta | None = None

    @property
    def events(self) -> list[PostEvent]:
        return [a for a in self.actions if isinstance(a, PostEvent)]
