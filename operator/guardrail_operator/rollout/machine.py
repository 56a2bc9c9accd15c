"""The canary rollout state machine. Pure: (Guardrail with its status, observed readiness, analysis, now) in,
(next status, actions) out. All rollout state lives in `status`, so an operator restarted mid-canary resumes.

How the reconciler drives it, once per reconcile (`rollout_children` has the pure helpers):

    children = kube.list_children(namespace, children_selector(guardrail))      # as today
    window   = analysis_due(guardrail, now)          # None, or what to ask Prometheus now
    result   = None if window is None else analysis.analyse(prometheus.Prometheus(url).query, window,
                                                            guardrail.spec.rollout.analysis)
    decision = step(guardrail, rollout_children.observe_rollout(children), result, now)
    desired  = rollout_children.rollout_children(guardrail, decision.actions, fetcher_image)
    plan     = diff.plan(desired, children, uid, field_manager)  -> apply / prune as today
    status   = compute_status(decision.status, ..., facts about the STABLE revision's Triton)   # the one writer
    post decision.events (and transition_events), write status once, requeue after decision.requeue_after

`now` must be timezone-aware. What the actions mean:
- `EnsureRevision(revision, model_revision, role, spec, own_triton)`: that revision's children must exist,
  rendered from `spec`: its revision ConfigMap, and the Triton of `model_revision` (`own_triton=False`: the
  same Deployment the stable uses, the models did not change). Emitted on every call for every revision in
  service (level-based); `rollout_children` turns them into manifests.
- `Prune(keep_revisions, keep_model_revisions)`: delete revision/model-revision children not listed (the
  diff's prune of everything not desired does exactly this); absent when the stable's model revision is
  unknown, in which case nothing may be pruned.
- `PostEvent(type, reason, message)`: post an Event on the Guardrail.
- `decision.requeue_after`: reconcile again after this long (a step interval ends, analysis retries).
`decision.status` owns `stableRevision`, `history`, `canary`, `lastRequest`, the `RolloutHealthy`
condition, and `phase` while a canary is active (Progressing) or rolled back (RolledBack); `compute_status`
starts from it and adds the other conditions (and the phase when no canary is in progress).

Manual control is the annotation `guardrails.dev/rollout-action` (promote | promote-full | abort | undo)
with `guardrails.dev/rollout-request-id`; a handled request is acknowledged in `status.lastRequest`.
Pausing is `spec.rollout.paused`.
"""

from __future__ import annotations

from datetime import datetime

from guardrail_contract.durations import parse_duration
from guardrail_contract.guardrail import CanaryStatus, Guardrail, GuardrailStatus, HistoryEntry
from guardrail_operator.reconcile.revision import guardrail_revision, model_revision, scoring_fields
from guardrail_operator.rollout import gates
from guardrail_operator.rollout.actions import (
    Action,
    AnalysisWindow,
    Decision,
    EnsureRevision,
    Prune,
    Request,
    RolloutObserved,
    pending_request,
    spec_at,
)
from guardrail_operator.rollout.analysis import AnalysisResult
from guardrail_operator.rollout.canary import (
    ACTIVE,
    ROLLOUT_HEALTHY,
    Run,
    parse_time,
    progress,
    rejected,
)

__all__ = ["ROLLOUT_HEALTHY", "analysis_due", "step"]


def analysis_due(guardrail: Guardrail, now: datetime) -> AnalysisWindow | None:
    """The window to analyse now: an active canary of the spec's revision whose step interval has ended, or the
    eval gate / shadow stage of a candidate before its first step (`AnalysisWindow.stage` says which)."""
    spec, status, canary = guardrail.spec, guardrail.status, guardrail.status.canary
    rollout = spec.rollout
    if canary is not None and canary.state in gates.STATES:  # eval gate / shadow stage (`gates`)
        return gates.gate_window(guardrail, now) if canary.revision == guardrail_revision(spec) else None
    if canary is None or canary.state not in ("Progressing", "Inconclusive", "Paused") or rollout.paused:
        return None
    if rollout.analysis.prometheus is None or canary.revision != guardrail_revision(spec):
        return None
    if now < parse_time(canary.step_started_at) + parse_duration(rollout.step_interval):
        return None
    return AnalysisWindow(canary.revision, status.stable_revision, rollout.step_interval)


def step(guardrail: Guardrail, observed: RolloutObserved, analysis: AnalysisResult | None, now: datetime) -> Decision:
    """The next rollout status and the actions to carry out (see the module docstring)."""
    run = Run(guardrail, observed, now, guardrail.status)
    spec, status = guardrail.spec, guardrail.status
    rev = guardrail_revision(spec)
    request = pending_request(guardrail.metadata.get("annotations") or {}, status.last_request)
    canary = status.canary
    if not status.stable_revision:
        _first(run, rev, request)
    elif canary is not None and canary.revision == rev and canary.state == "RolledBack":
        rejected(run, canary, request)
    elif canary is not None and canary.revision == rev:
        progress(run, canary, analysis, request)
    elif rev == status.stable_revision:
        _at_stable(run, request)
    elif _entry(status, rev) is not None:
        _back_to_earlier(run, rev, request)
    else:
        _start(run, request)
    _settle_phase(run)
    return Decision(run.status, _children(run) + run.actions, run.requeue)


def _entry(status: GuardrailStatus, revision: str) -> HistoryEntry | None:
    return next((h for h in reversed(status.history) if h.revision == revision), None)


def _first(run: Run, rev: str, request: Request | None) -> None:
    """No stable revision yet: the first revision serves as soon as its Triton is ready, without a canary."""
    model_rev = model_revision(run.g.spec)
    run.ack(request, "ignored: no canary in progress")
    if run.observed.ready(model_rev):
        run.make_stable(rev, model_rev, "Initial", scoring_fields(run.g.spec))
        run.condition("True", "Stable", f"Revision {rev} is stable.")


def _at_stable(run: Run, request: Request | None) -> None:
    """The spec is the stable revision: drop any canary; `undo` returns to the previous stable."""
    status = run.status
    if status.canary is not None and status.canary.state != "RolledBack":
        run.event(
            False,
            "CanaryCancelled",
            f"Spec returned to stable revision {status.stable_revision}: canary {status.canary.revision} removed.",
        )
    run.update(canary=None)
    previous = next((h for h in reversed(status.history) if h.revision != status.stable_revision), None)
    if request is not None and request.action == "undo" and previous is not None:
        current = status.stable_revision
        run.make_stable(previous.revision, previous.model_revision, "Undo", previous.scoring)
        message = (
            f"Undo: back to revision {previous.revision}; revision {current} is rejected while the spec "
            f"still describes it (apply the earlier spec, or revert it in git, to make this permanent)."
        )
        run.update(
            canary=CanaryStatus(
                revision=current,
                model_revision=model_revision(run.g.spec),
                state="RolledBack",
                message=message,
                started_at=run.ts,
            )
        )
        run.condition("False", "Undone", message)
        run.event(True, "RolledBack", message)
        run.ack(request, f"undone to revision {previous.revision}")
        return
    run.ack(
        request,
        "ignored: no canary in progress"
        if request is None or request.action != "undo"
        else "ignored: no earlier stable revision to go back to",
    )
    run.condition("True", "Stable", f"Revision {status.stable_revision} is stable.")


def _back_to_earlier(run: Run, rev: str, request: Request | None) -> None:
    """The spec equals an earlier stable revision: serve it again at once, no canary."""
    old = run.status.stable_revision
    if run.status.canary is not None and run.status.canary.state != "RolledBack":
        run.event(False, "CanaryCancelled", f"Canary {run.status.canary.revision} removed: spec changed again.")
    run.make_stable(rev, model_revision(run.g.spec), "Rollback", scoring_fields(run.g.spec))
    message = f"Spec matches earlier stable revision {rev}: serving it without a canary (was {old})."
    run.event(False, "RollbackToRevision", message)
    run.condition("True", "RollbackToStable", message)
    run.ack(request, "ignored: the spec is a rollback to an earlier revision")


def _start(run: Run, request: Request | None) -> None:
    """A new revision: start (or restart, when a canary of another revision was running) a canary."""
    spec, old = run.g.spec, run.status.canary
    rev = guardrail_revision(spec)
    if old is not None and old.state != "RolledBack":
        run.event(
            False,
            "CanaryRestarted",
            f"Spec changed mid-canary: revision {old.revision} replaced by {rev}; restarting from the first step.",
        )
    canary = CanaryStatus(
        revision=rev,
        model_revision=model_revision(spec),
        step_started_at=run.ts,
        started_at=run.ts,
        message=f"Waiting for revision {rev} to be ready.",
    )
    run.update(canary=canary)
    run.event(
        False,
        "CanaryStarted",
        f"Revision {rev} starts as a canary next to stable {run.status.stable_revision}, steps {spec.rollout.steps}.",
    )
    progress(run, canary, None, request)


def _settle_phase(run: Run) -> None:
    canary = run.status.canary
    if canary is not None:
        run.update(phase="RolledBack" if canary.state == "RolledBack" else "Progressing")
    elif run.status.phase in ("Progressing", "RolledBack"):
        run.update(phase="Healthy")


def _children(run: Run) -> list[Action]:
    """Level-based: the revisions that must exist now, and the prune that keeps only them."""
    status, spec = run.status, run.g.spec
    rev, model_rev = guardrail_revision(spec), model_revision(spec)
    if not status.stable_revision:  # nothing serves yet: only the current revision's children may exist
        return [EnsureRevision(rev, model_rev, "stable", spec), Prune(frozenset({rev}), frozenset({model_rev}))]
    entry = _entry(status, status.stable_revision)
    out: list[Action] = []
    stable_model = entry.model_revision if entry is not None else ""
    if status.stable_revision == rev:
        out.append(EnsureRevision(rev, model_rev, "stable", spec))
        stable_model = model_rev
    elif entry is not None and entry.scoring:
        out.append(EnsureRevision(entry.revision, entry.model_revision, "stable", spec_at(spec, entry)))
    keep, keep_models = {status.stable_revision}, {stable_model}
    canary = status.canary
    if canary is not None and canary.state in ACTIVE:
        out.append(
            EnsureRevision(
                canary.revision, canary.model_revision, "canary", spec, own_triton=canary.model_revision != stable_model
            )
        )
        keep.add(canary.revision)
        keep_models.add(canary.model_revision)
    if stable_model:
        out.append(Prune(frozenset(keep), frozenset(keep_models)))
    return out
