"""The canary rollout state machine. Pure: (Guardrail with its status, observed readiness, analysis, now) in,
(next status, actions) out. All rollout state lives in `status`, so an operator restarted mid-canary resumes.

How the reconciler drives it, once per reconcile, after `status.compute_status` (whose conditions it keeps):

    guardrail = Guardrail.model_validate(body) with `status` = the status compute_status just produced
    observed  = RolloutObserved(ready_model_revisions=frozenset(model revisions whose Triton Deployment
                                is Available, from observed.workload_state(...).available))
    window    = analysis_due(guardrail, now)          # None, or what to ask Prometheus now
    result    = None if window is None else analysis.analyse(Prometheus(url).query, window,
                                                             guardrail.spec.rollout.analysis)
    decision  = step(guardrail, observed, result, now)

then carry out `decision.actions` and write `decision.status` (one status patch, only if it changed):
- `EnsureRevision(revision, model_revision, role, spec, own_triton)`: desired children for that revision,
  built from `spec` (a Guardrail copy with `spec` swapped in): `build_revision_configmap(g, revision,
  model_revision)` always; Triton ConfigMap/Service/Deployment for `model_revision` (`own_triton=False`
  means it is the same Deployment the other served revision already uses). Emitted on every call for every
  revision in service (level-based), so `desired_children` = shared children + these.
- `Prune(keep_revisions, keep_model_revisions)`: delete revision/model-revision children not listed (the
  diff's prune of everything not desired does exactly this); absent when the stable's model revision is
  unknown, in which case nothing may be pruned.
- `PostEvent(type, reason, message)`: post an Event on the Guardrail.
- `decision.requeue_after`: reconcile again after this long (a step interval ends, analysis retries).
`decision.status` owns `stableRevision`, `history`, `canary`, `lastRequest`, the `RolloutHealthy`
condition, and `phase` while a canary is active (Progressing) or rolled back (RolledBack); compute_status
must therefore stop promoting the spec's revision to stable by itself.

Manual control is the annotation `guardrails.dev/rollout-action` (promote | promote-full | abort | undo)
with `guardrails.dev/rollout-request-id`; a handled request is acknowledged in `status.lastRequest`.
Pausing is `spec.rollout.paused`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from guardrail_operator.analysis import AnalysisResult, Failed, Inconclusive
from guardrail_operator.models import (
    CanaryStatus,
    Condition,
    Guardrail,
    GuardrailStatus,
    HistoryEntry,
    RolloutRequest,
)
from guardrail_operator.revision import guardrail_revision, model_revision, scoring_fields
from guardrail_operator.rollout_actions import (
    Action,
    AnalysisWindow,
    Decision,
    EnsureRevision,
    PostEvent,
    Prune,
    Request,
    RolloutObserved,
    parse_duration,
    pending_request,
    spec_at,
)
from guardrail_operator.status import HISTORY_LIMIT, merge_conditions

ROLLOUT_HEALTHY = "RolloutHealthy"
INCONCLUSIVE_RETRY = timedelta(seconds=30)
ACTIVE = ("WaitingForCanary", "Progressing", "Paused", "Inconclusive", "Promoting")


def rfc3339(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str, default: datetime) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=default.tzinfo)
    except ValueError:
        return default


def analysis_due(guardrail: Guardrail, now: datetime) -> AnalysisWindow | None:
    """The window to analyse now: an active canary of the spec's revision whose step interval has ended."""
    spec, status, canary = guardrail.spec, guardrail.status, guardrail.status.canary
    rollout = spec.rollout
    if canary is None or canary.state not in ("Progressing", "Inconclusive", "Paused") or rollout.paused:
        return None
    if rollout.analysis.prometheus is None or canary.revision != guardrail_revision(spec):
        return None
    if now < parse_time(canary.step_started_at, now) + parse_duration(rollout.step_interval):
        return None
    return AnalysisWindow(canary.revision, status.stable_revision, rollout.step_interval)


@dataclass
class _Run:
    """One call's working state: the status being built, actions, and the facts every step needs."""

    g: Guardrail
    observed: RolloutObserved
    now: datetime
    status: GuardrailStatus
    actions: list[Action] = field(default_factory=list)
    requeue: timedelta | None = None

    @property
    def ts(self) -> str:
        return rfc3339(self.now)

    def update(self, **changes: object) -> None:
        self.status = self.status.model_copy(update=changes)

    def event(self, warning: bool, reason: str, message: str) -> None:
        self.actions.append(PostEvent("Warning" if warning else "Normal", reason, message))

    def ack(self, request: Request | None, result: str) -> None:
        if request is not None:
            self.update(
                last_request=RolloutRequest(id=request.id, action=request.action, result=result, handled_at=self.ts)
            )

    def condition(self, status: str, reason: str, message: str) -> None:
        old = next((c for c in self.status.conditions if c.type == ROLLOUT_HEALTHY), None)
        since = old.last_transition_time if old is not None and old.status == status else self.ts
        new = Condition.model_validate(
            {
                "type": ROLLOUT_HEALTHY,
                "status": status,
                "reason": reason,
                "message": message,
                "lastTransitionTime": since,
                "observedGeneration": int(self.g.metadata.get("generation", 0)),
            }
        )
        self.update(conditions=merge_conditions(self.status.conditions, [new]))

    def make_stable(self, revision: str, model_rev: str, reason: str, scoring: dict[str, object]) -> None:
        entry = HistoryEntry(
            revision=revision, promoted_at=self.ts, model_revision=model_rev, reason=reason, scoring=scoring
        )
        self.update(stable_revision=revision, history=[*self.status.history, entry][-HISTORY_LIMIT:], canary=None)


def step(guardrail: Guardrail, observed: RolloutObserved, analysis: AnalysisResult | None, now: datetime) -> Decision:
    """The next rollout status and the actions to carry out (see the module docstring)."""
    run = _Run(guardrail, observed, now, guardrail.status)
    spec, status = guardrail.spec, guardrail.status
    rev = guardrail_revision(spec)
    request = pending_request(guardrail.metadata.get("annotations") or {}, status.last_request)
    canary = status.canary
    if not status.stable_revision:
        _first(run, rev, request)
    elif canary is not None and canary.revision == rev and canary.state == "RolledBack":
        _rejected(run, canary, request)
    elif canary is not None and canary.revision == rev:
        _progress(run, canary, analysis, request)
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


def _first(run: _Run, rev: str, request: Request | None) -> None:
    """No stable revision yet: the first revision serves as soon as its Triton is ready, without a canary."""
    model_rev = model_revision(run.g.spec)
    run.ack(request, "ignored: no canary in progress")
    if run.observed.ready(model_rev):
        run.make_stable(rev, model_rev, "Initial", scoring_fields(run.g.spec))
        run.condition("True", "Stable", f"Revision {rev} is stable.")


def _at_stable(run: _Run, request: Request | None) -> None:
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


def _back_to_earlier(run: _Run, rev: str, request: Request | None) -> None:
    """The spec equals an earlier stable revision: serve it again at once, no canary."""
    old = run.status.stable_revision
    if run.status.canary is not None and run.status.canary.state != "RolledBack":
        run.event(False, "CanaryCancelled", f"Canary {run.status.canary.revision} removed: spec changed again.")
    run.make_stable(rev, model_revision(run.g.spec), "Rollback", scoring_fields(run.g.spec))
    message = f"Spec matches earlier stable revision {rev}: serving it without a canary (was {old})."
    run.event(False, "RollbackToRevision", message)
    run.condition("True", "RollbackToStable", message)
    run.ack(request, "ignored: the spec is a rollback to an earlier revision")


def _start(run: _Run, request: Request | None) -> None:
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
    _progress(run, canary, None, request)


def _rejected(run: _Run, canary: CanaryStatus, request: Request | None) -> None:
    """The spec's revision was rolled back: it stays out of traffic until the spec changes or a promote."""
    if request is not None and request.action in ("promote", "promote-full"):
        run.ack(request, f"retrying revision {canary.revision} from the first step")
        fresh = CanaryStatus(
            revision=canary.revision,
            model_revision=canary.model_revision,
            step_started_at=run.ts,
            started_at=run.ts,
            message="Retrying after a rollback.",
        )
        run.update(canary=fresh)
        run.event(False, "CanaryRetried", f"Revision {canary.revision} retried by request {request.id}.")
        _progress(run, fresh, None, None if request.action == "promote" else request)
        return
    run.ack(request, f"ignored: revision {canary.revision} is already rolled back")


def _progress(run: _Run, canary: CanaryStatus, analysis: AnalysisResult | None, request: Request | None) -> None:
    """An active canary: manual requests first, then pause, readiness, the step timer and the analysis."""
    rollout = run.g.spec.rollout
    steps, interval = rollout.steps, parse_duration(rollout.step_interval)
    action = request.action if request is not None else None
    if action in ("abort", "undo"):
        assert request is not None
        reason = "Aborted" if action == "abort" else "Undone"
        run.ack(request, f"rolled back revision {canary.revision}")
        _roll_back(run, canary, reason, f"{reason} by request {request.id}")
        return
    if action == "promote-full" or canary.state == "Promoting":
        run.ack(request, f"promoted revision {canary.revision}")
        _promote(run, canary)
        return
    if action == "promote" and canary.state != "WaitingForCanary":
        run.ack(request, "advanced one step")
        _advance(run, canary, steps)
        return
    if request is not None:
        run.ack(
            request,
            f"ignored: {request.action!r} "
            + ("waits for the canary to be ready" if action == "promote" else "is not a rollout action"),
        )
    if rollout.paused:
        run.update(
            canary=canary.model_copy(
                update={"state": "Paused", "message": f"Paused at {canary.weight}% (spec.rollout.paused)."}
            )
        )
        run.condition("True", "Paused", f"Canary {canary.revision} paused at {canary.weight}%.")
        return
    if canary.state == "WaitingForCanary":
        if not run.observed.ready(canary.model_revision):
            run.condition("True", "WaitingForCanary", canary.message)
            return
        _advance(run, canary.model_copy(update={"step": -1}), steps)
        return
    due = parse_time(canary.step_started_at, run.now) + interval
    if run.now < due:
        state = "Progressing" if canary.state == "Paused" else canary.state
        run.update(canary=canary.model_copy(update={"state": state}))
        run.condition("True", "CanaryProgressing", f"Canary {canary.revision} at {canary.weight}%.")
        run.requeue = due - run.now
        return
    _judge(run, canary, analysis, steps, interval)


def _judge(
    run: _Run, canary: CanaryStatus, analysis: AnalysisResult | None, steps: list[int], interval: timedelta
) -> None:
    limits = run.g.spec.rollout.analysis
    if limits.prometheus is None:  # no analysis configured: steps advance on time alone
        _advance(run, canary, steps)
        return
    if analysis is None or isinstance(analysis, Inconclusive):
        message = "Waiting for analysis." if analysis is None else analysis.describe()
        run.update(canary=canary.model_copy(update={"state": "Inconclusive", "message": message}))
        run.condition("Unknown", "AnalysisInconclusive", message)
        run.requeue = min(interval, INCONCLUSIVE_RETRY)
        return
    if isinstance(analysis, Failed):
        failures = canary.failures + 1
        message = f"{analysis.describe()} ({failures}/{limits.failure_limit} consecutive failures)"
        if failures >= limits.failure_limit:
            _roll_back(
                run,
                canary.model_copy(update={"failures": failures}),
                "AnalysisFailed",
                f"Canary {canary.revision} rolled back: {message}.",
            )
            return
        run.update(
            canary=canary.model_copy(
                update={"state": "Progressing", "failures": failures, "message": message, "step_started_at": run.ts}
            )
        )
        run.condition("True", "AnalysisFailedOnce", message)
        run.requeue = interval
        return
    _advance(run, canary.model_copy(update={"failures": 0, "message": analysis.describe()}), steps)


def _advance(run: _Run, canary: CanaryStatus, steps: list[int]) -> None:
    index = min(canary.step + 1, len(steps) - 1)
    weight = steps[index]
    state = "Promoting" if weight >= 100 else "Progressing"
    message = f"Step {index + 1}/{len(steps)}: {weight}% of requests scored by revision {canary.revision}."
    run.update(
        canary=canary.model_copy(
            update={"step": index, "weight": weight, "state": state, "step_started_at": run.ts, "message": message}
        )
    )
    run.event(False, "CanaryWeight", message)
    run.condition("True", "CanaryProgressing", message)
    run.requeue = timedelta(0) if state == "Promoting" else parse_duration(run.g.spec.rollout.step_interval)


def _promote(run: _Run, canary: CanaryStatus) -> None:
    old = run.status.stable_revision
    run.make_stable(canary.revision, canary.model_revision, "Promoted", scoring_fields(run.g.spec))
    message = f"Revision {canary.revision} promoted to stable (was {old})."
    run.event(False, "Promoted", message)
    run.condition("True", "Promoted", message)


def _roll_back(run: _Run, canary: CanaryStatus, reason: str, message: str) -> None:
    run.update(canary=canary.model_copy(update={"weight": 0, "state": "RolledBack", "message": message}))
    run.condition("False", reason, message)
    run.event(True, "RolledBack", message)


def _settle_phase(run: _Run) -> None:
    canary = run.status.canary
    if canary is not None:
        run.update(phase="RolledBack" if canary.state == "RolledBack" else "Progressing")
    elif run.status.phase in ("Progressing", "RolledBack"):
        run.update(phase="Healthy")


def _children(run: _Run) -> list[Action]:
    """Level-based: the revisions that must exist now, and the prune that keeps only them."""
    status, spec = run.status, run.g.spec
    rev, model_rev = guardrail_revision(spec), model_revision(spec)
    if not status.stable_revision:
        return [EnsureRevision(rev, model_rev, "stable", spec)]
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
