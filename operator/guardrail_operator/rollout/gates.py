"""The stages before a candidate's first traffic step (issue 21): the offline eval gate, then the shadow stage.
Pure, part of the rollout state machine (`machine`, `canary`): the same status, conditions and Events.

    WaitingForCanary --ready--> EvalGate (spec.rollout.evalGate) --passed--> Shadow (spec.rollout.shadow)
        --passed--> step 1 (e.g. 10 %) --> ... --> 100 % (promoted)
    a failed eval gate or shadow analysis rolls the candidate back (state RolledBack, weight 0, an Event).

- EvalGate: `analysis_due` asks for an `eval` window on every reconcile; the reconciler answers it with the
  eval Job's result (`controller.eval_sync`): `EvalInconclusive` while the Job runs, `EvalPassed` /
  `EvalFailed` with the figures once it ended. The figures go to `status.canary.evalGate`, and, once the
  candidate is promoted, to its history entry.
- Shadow: the candidate's weight stays 0 while the sidecars score a `sampleRate` share of stable's answers
  with it too (`guardrail_sidecar.scored_path.shadow`; only stable's verdict reaches users). After `duration`
  the shadow analysis (`rollout.shadow`) runs over that window: passed -> step 1; failed -> rolled back;
  inconclusive (too few shadowed answers, no data) -> wait and ask again. Without a Prometheus in
  `spec.rollout.analysis` the stage ends on time alone, as the canary steps do.
- Manual requests: `promote` skips the current stage (the next one still runs), `promote-full` promotes,
  `abort`/`undo` roll back; `spec.rollout.paused` holds the stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from guardrail_contract.durations import parse_duration
from guardrail_contract.gates import EvalFigures, EvalGate
from guardrail_contract.guardrail import CanaryStatus, Guardrail
from guardrail_operator.rollout import canary as stages
from guardrail_operator.rollout.actions import AnalysisWindow, Request
from guardrail_operator.rollout.analysis import AnalysisResult, CheckValue, Failed, Inconclusive, Passed
from guardrail_operator.rollout.shadow import ShadowFailed, ShadowInconclusive, ShadowPassed, describe

STATES = ("EvalGate", "Shadow")
EVAL_POLL = timedelta(seconds=10)
SHADOW_RETRY = timedelta(seconds=15)


@dataclass(frozen=True)
class EvalPassed(Passed):
    figures: EvalFigures | None = None


@dataclass(frozen=True)
class EvalFailed(Failed):
    figures: EvalFigures | None = None


@dataclass(frozen=True)
class EvalInconclusive(Inconclusive):
    pass


def judge_eval(result: Mapping[str, Any], gate: EvalGate, job: str) -> EvalPassed | EvalFailed:
    """The gate's verdict on the eval Job's result (`guardrail_cli.eval_gate`'s JSON)."""
    if "error" in result:
        reason = str(result["error"])[:300]
        figures = EvalFigures(
            candidate_auroc=0, stable_auroc=0, lead_probability=0, false_block_rate=1, job=job, message=reason
        )
        return EvalFailed("evalJob", 1.0, 0.0, figures)
    figures = EvalFigures.model_validate({**result, "job": job})
    checks = [  # (name, value, limit, passes)
        ("candidateAUROC", figures.candidate_auroc, gate.min_auroc, figures.candidate_auroc >= gate.min_auroc),
        (
            "leadProbability",
            figures.lead_probability,
            gate.min_lead_probability,
            figures.lead_probability >= gate.min_lead_probability,
        ),
        (
            "falseBlockRate",
            figures.false_block_rate,
            gate.max_false_block_rate,
            figures.false_block_rate <= gate.max_false_block_rate,
        ),
    ]
    summary = (
        f"candidate AUROC {figures.candidate_auroc:.3f} (stable {figures.stable_auroc:.3f}), "
        f"P(candidate better) {figures.lead_probability:.2f}, false-block rate {figures.false_block_rate:.1%} "
        f"over {figures.pairs} pairs"
    )
    for name, value, limit, ok in checks:
        if not ok:
            side = "below the minimum" if name != "falseBlockRate" else "above the limit"
            message = f"eval gate failed: {name} {value:.4g} is {side} {limit:.4g}; {summary}"
            return EvalFailed(name, value, limit, figures.model_copy(update={"message": message}))
    message = f"eval gate passed: {summary}"
    values = tuple(CheckValue(n, v, lim) for n, v, lim, _ in checks)
    return EvalPassed(float(figures.pairs), values, figures.model_copy(update={"passed": True, "message": message}))


def gate_window(guardrail: Guardrail, now: datetime) -> AnalysisWindow | None:
    """The eval or shadow window to answer now, for a candidate in one of the gate stages (else None)."""
    canary, rollout = guardrail.status.canary, guardrail.spec.rollout
    if canary is None or canary.state not in STATES or rollout.paused:
        return None
    stable = guardrail.status.stable_revision
    if canary.state == "EvalGate":
        return AnalysisWindow(canary.revision, stable, "0s", stage="eval")
    shadow = rollout.shadow
    if shadow is None or rollout.analysis.prometheus is None:
        return None
    if now < stages.parse_time(canary.step_started_at) + parse_duration(shadow.duration):
        return None
    return AnalysisWindow(canary.revision, stable, shadow.duration, stage="shadow")


def enter(run: stages.Run, canary: CanaryStatus) -> bool:
    """A ready candidate: start its first gate stage; False when no gate is configured (go to step 1)."""
    rollout = run.g.spec.rollout
    if rollout.eval_gate is not None and canary.eval_gate is None:
        _to_eval(run, canary)
        return True
    if rollout.shadow is not None and canary.shadow is None:
        _to_shadow(run, canary)
        return True
    return False


def progress(run: stages.Run, canary: CanaryStatus, analysis: AnalysisResult | None, request: Request | None) -> None:
    """A candidate in EvalGate or Shadow (manual requests and pause first, like `canary.progress`)."""
    action = request.action if request is not None else None
    if request is not None and action in ("abort", "undo"):
        reason = "Aborted" if action == "abort" else "Undone"
        run.ack(request, f"rolled back revision {canary.revision}")
        stages.roll_back(run, canary, reason, f"{reason} by request {request.id}")
        return
    if action == "promote-full":
        run.ack(request, f"promoted revision {canary.revision}")
        stages.promote(run, canary)
        return
    if request is not None and action == "promote":
        run.ack(request, f"skipped the {canary.state} stage")
        run.event(False, "GateSkipped", f"{canary.state} stage of {canary.revision} skipped by request {request.id}.")
        _next(run, canary)
        return
    if request is not None:
        run.ack(request, f"ignored: {request.action!r} is not a rollout action")
    if run.g.spec.rollout.paused:
        run.condition("True", "Paused", f"Candidate {canary.revision} paused in the {canary.state} stage.")
        return
    if canary.state == "EvalGate":
        _eval(run, canary, analysis)
    else:
        _shadow(run, canary, analysis)


def _to_eval(run: stages.Run, canary: CanaryStatus) -> None:
    message = f"Eval gate: scoring the labelled set with {canary.revision} and stable {run.status.stable_revision}."
    run.update(canary=canary.model_copy(update={"state": "EvalGate", "step_started_at": run.ts, "message": message}))
    run.event(False, "EvalGateStarted", message)
    run.condition("True", "EvalGate", message)
    run.requeue = EVAL_POLL


def _to_shadow(run: stages.Run, canary: CanaryStatus) -> None:
    shadow = run.g.spec.rollout.shadow
    assert shadow is not None
    message = (
        f"Shadow: {shadow.sample_rate:.0%} of stable's answers also scored by {canary.revision} for "
        f"{shadow.duration}, off the response path; users get only stable's verdicts."
    )
    run.update(canary=canary.model_copy(update={"state": "Shadow", "step_started_at": run.ts, "message": message}))
    run.event(False, "ShadowStarted", message)
    run.condition("True", "Shadow", message)
    run.requeue = parse_duration(shadow.duration)


def _next(run: stages.Run, canary: CanaryStatus) -> None:
    """The stage after the current one: shadow after the eval gate (when configured), else step 1."""
    if canary.state == "EvalGate" and run.g.spec.rollout.shadow is not None:
        _to_shadow(run, canary)
        return
    stages.advance(run, canary.model_copy(update={"step": -1}), run.g.spec.rollout.steps)


def _eval(run: stages.Run, canary: CanaryStatus, analysis: AnalysisResult | None) -> None:
    if run.g.spec.rollout.eval_gate is None:  # the gate was removed from the spec mid-way: go on
        _next(run, canary)
        return
    if isinstance(analysis, EvalFailed):
        figures = analysis.figures
        message = figures.message if figures is not None and figures.message else analysis.describe()
        stages.roll_back(
            run,
            canary.model_copy(update={"eval_gate": figures}),
            "EvalGateFailed",
            f"Candidate {canary.revision} rolled back: {message}.",
        )
        return
    if isinstance(analysis, EvalPassed) and analysis.figures is not None:
        passed = canary.model_copy(update={"eval_gate": analysis.figures, "message": analysis.figures.message})
        run.event(False, "EvalGatePassed", f"Candidate {canary.revision}: {analysis.figures.message}.")
        _next(run, passed)
        return
    message = "Eval gate: waiting for the eval Job." if analysis is None else analysis.describe()
    run.update(canary=canary.model_copy(update={"message": message}))
    run.condition("Unknown", "EvalGateRunning", message)
    run.requeue = EVAL_POLL


def _shadow(run: stages.Run, canary: CanaryStatus, analysis: AnalysisResult | None) -> None:
    shadow = run.g.spec.rollout.shadow
    if shadow is None:  # the stage was removed from the spec mid-way: go on to the steps
        _next(run, canary)
        return
    due = stages.parse_time(canary.step_started_at) + parse_duration(shadow.duration)
    if run.now < due:
        run.condition("True", "Shadow", canary.message)
        run.requeue = due - run.now
        return
    if run.g.spec.rollout.analysis.prometheus is None:  # no analysis configured: the stage ends on time alone
        _next(run, canary.model_copy(update={"message": "Shadow stage over (no analysis configured)."}))
        return
    if isinstance(analysis, ShadowFailed):
        message = describe(analysis)
        stages.roll_back(
            run,
            canary.model_copy(update={"shadow": analysis.figures}),
            "ShadowFailed",
            f"Candidate {canary.revision} rolled back in the shadow stage: {message}.",
        )
        return
    if isinstance(analysis, ShadowPassed):
        message = describe(analysis)
        run.event(False, "ShadowPassed", f"Candidate {canary.revision}: {message}.")
        _next(run, canary.model_copy(update={"shadow": analysis.figures, "message": message}))
        return
    figures = analysis.figures if isinstance(analysis, ShadowInconclusive) else canary.shadow
    message = (
        describe(analysis)
        if isinstance(analysis, ShadowInconclusive)
        else "Shadow: waiting for analysis."
        if analysis is None
        else analysis.describe()
    )
    run.update(canary=canary.model_copy(update={"shadow": figures, "message": message}))
    run.condition("Unknown", "ShadowInconclusive", message)
    run.requeue = SHADOW_RETRY
