"""The active-canary half of the rollout state machine (see `rollout`): manual requests, pause, readiness,
the step timer, analysis verdicts, advancing, promotion and rollback. Pure; `Run` collects one call's result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from guardrail_contract.durations import parse_duration, parse_rfc3339, rfc3339
from guardrail_contract.guardrail import (
    CanaryStatus,
    Guardrail,
    GuardrailStatus,
    HistoryEntry,
    RolloutRequest,
)
from guardrail_operator.reconcile.revision import scoring_fields
from guardrail_operator.reconcile.status import ConditionStatus, condition, merge_conditions
from guardrail_operator.rollout import gates
from guardrail_operator.rollout.actions import Action, PostEvent, Request, RolloutObserved
from guardrail_operator.rollout.analysis import AnalysisResult, Failed, Inconclusive

HISTORY_LIMIT = 10  # promotions kept in status.history (any of them is a rollback target)
ROLLOUT_HEALTHY = "RolloutHealthy"
INCONCLUSIVE_RETRY = timedelta(seconds=30)
ACTIVE = ("WaitingForCanary", "EvalGate", "Shadow", "Progressing", "Paused", "Inconclusive", "Promoting")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_time(text: str) -> datetime:
    """A time written by `rfc3339`; a missing or garbled one counts as long ago (so a step is due, not stuck)."""
    try:
        return parse_rfc3339(text)
    except ValueError:
        return EPOCH


@dataclass
class Run:
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

    def condition(self, status: ConditionStatus, reason: str, message: str) -> None:
        generation = int(self.g.metadata.get("generation", 0))
        new = condition(ROLLOUT_HEALTHY, status, reason, message, self.status.conditions, self.ts, generation)
        self.update(conditions=merge_conditions(self.status.conditions, [new]))

    def make_stable(self, revision: str, model_rev: str, reason: str, scoring: dict[str, object]) -> None:
        entry = HistoryEntry(
            revision=revision, promoted_at=self.ts, model_revision=model_rev, reason=reason, scoring=scoring
        )
        self.update(stable_revision=revision, history=[*self.status.history, entry][-HISTORY_LIMIT:], canary=None)


def rejected(run: Run, canary: CanaryStatus, request: Request | None) -> None:
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
        progress(run, fresh, None, None if request.action == "promote" else request)
        return
    run.ack(request, f"ignored: revision {canary.revision} is already rolled back")


def progress(run: Run, canary: CanaryStatus, analysis: AnalysisResult | None, request: Request | None) -> None:
    """An active canary: manual requests first, then pause, readiness, the step timer and the analysis."""
    rollout = run.g.spec.rollout
    steps, interval = rollout.steps, parse_duration(rollout.step_interval)
    action = request.action if request is not None else None
    if canary.state in gates.STATES:  # the eval gate and the shadow stage before step 1
        gates.progress(run, canary, analysis, request)
        return
    if request is not None and action in ("abort", "undo"):
        reason = "Aborted" if action == "abort" else "Undone"
        run.ack(request, f"rolled back revision {canary.revision}")
        roll_back(run, canary, reason, f"{reason} by request {request.id}")
        return
    if action == "promote-full":
        run.ack(request, f"promoted revision {canary.revision}")
        promote(run, canary)
        return
    if action == "promote" and canary.state != "WaitingForCanary":
        run.ack(request, "advanced one step")
        advance(run, canary, steps)
        return
    if request is not None:
        run.ack(
            request,
            f"ignored: {request.action!r} "
            + ("waits for the canary to be ready" if action == "promote" else "is not a rollout action"),
        )
    if rollout.paused:  # holds the weight, before the first step and at 100 % too
        waiting = canary.state == "WaitingForCanary"
        state = "WaitingForCanary" if waiting else "Paused"
        message = f"Paused at {canary.weight}% (spec.rollout.paused)."
        run.update(canary=canary.model_copy(update={"state": state, "message": message}))
        run.condition("True", "Paused", f"Canary {canary.revision} paused at {canary.weight}%.")
        return
    if canary.state == "Promoting" or canary.weight >= 100:  # also when resumed at 100 %
        promote(run, canary)
        return
    if canary.state == "WaitingForCanary":
        if not run.observed.ready(canary.model_revision):
            run.condition("True", "WaitingForCanary", canary.message)
            return
        if gates.enter(run, canary):  # spec.rollout.evalGate / shadow: before any user sees its verdicts
            return
        advance(run, canary.model_copy(update={"step": -1}), steps)
        return
    due = parse_time(canary.step_started_at) + interval
    if run.now < due:
        state = "Progressing" if canary.state == "Paused" else canary.state
        run.update(canary=canary.model_copy(update={"state": state}))
        run.condition("True", "CanaryProgressing", f"Canary {canary.revision} at {canary.weight}%.")
        run.requeue = due - run.now
        return
    judge(run, canary, analysis, steps, interval)


def judge(
    run: Run, canary: CanaryStatus, analysis: AnalysisResult | None, steps: list[int], interval: timedelta
) -> None:
    limits = run.g.spec.rollout.analysis
    if limits.prometheus is None:  # no analysis configured: steps advance on time alone
        advance(run, canary, steps)
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
            roll_back(
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
    advance(run, canary.model_copy(update={"failures": 0, "message": analysis.describe()}), steps)


def advance(run: Run, canary: CanaryStatus, steps: list[int]) -> None:
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


def promote(run: Run, canary: CanaryStatus) -> None:
    old = run.status.stable_revision
    run.make_stable(canary.revision, canary.model_revision, "Promoted", scoring_fields(run.g.spec))
    if canary.eval_gate is not None:  # the eval gate it passed is recorded with it
        *earlier, entry = run.status.history
        run.update(history=[*earlier, entry.model_copy(update={"eval_gate": canary.eval_gate})])
    message = f"Revision {canary.revision} promoted to stable (was {old})."
    run.event(False, "Promoted", message)
    run.condition("True", "Promoted", message)


def roll_back(run: Run, canary: CanaryStatus, reason: str, message: str) -> None:
    run.update(canary=canary.model_copy(update={"weight": 0, "state": "RolledBack", "message": message}))
    run.condition("False", reason, message)
    run.event(True, "RolledBack", message)
