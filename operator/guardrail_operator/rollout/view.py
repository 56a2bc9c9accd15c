"""What `kubectl guardrail` shows and sends, from a Guardrail object as the API returns it. Pure.

Every command is a patch of the Guardrail, so plain `kubectl patch`, `kubectl annotate` and GitOps can do
the same: pause/resume set `spec.rollout.paused`; promote, promote-full, abort and undo set the annotations
`guardrails.dev/rollout-action` and `guardrails.dev/rollout-request-id`, which the operator acts on once and
acknowledges in `status.lastRequest`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from guardrail_contract.names import ACTION_ANNOTATION, REQUEST_ID_ANNOTATION

Obj = dict[str, Any]


def action_patch(action: str, request_id: str) -> Obj:
    """A merge patch asking the operator for `action` (promote, promote-full, abort, undo) once."""
    return {"metadata": {"annotations": {ACTION_ANNOTATION: action, REQUEST_ID_ANNOTATION: request_id}}}


def pause_patch(paused: bool) -> Obj:
    return {"spec": {"rollout": {"paused": paused}}}


@dataclass(frozen=True)
class RolloutView:
    """One line about a rollout, and whether it is over (`done`) or ended badly (`failed`)."""

    line: str
    done: bool = False
    failed: bool = False


def _condition(status: Obj, kind: str) -> Obj:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), {})


def view(obj: Obj) -> RolloutView:
    """Where the rollout of `obj` stands, in the style of `kubectl rollout status`."""
    name = obj.get("metadata", {}).get("name", "")
    generation = int(obj.get("metadata", {}).get("generation", 0))
    status: Obj = obj.get("status") or {}
    canary: Obj = status.get("canary") or {}
    if int(status.get("observedGeneration", 0)) < generation:
        return RolloutView(f'Waiting for guardrail "{name}" spec update to be observed...')
    rollout = _condition(status, "RolloutHealthy")
    if rollout.get("status") == "False":  # conditions decide, per API conventions; the phase is for humans
        why = canary.get("message") or rollout.get("message", "")
        return RolloutView(
            f'guardrail "{name}" rolled back to revision {status.get("stableRevision")}: {why}', done=True, failed=True
        )
    if canary.get("state") in ("EvalGate", "Shadow"):
        return RolloutView(f'Waiting for guardrail "{name}" rollout to finish: {gate_line(canary)}')
    if canary:
        return RolloutView(
            f'Waiting for guardrail "{name}" rollout to finish: canary {canary.get("revision")} at '
            f"{canary.get('weight', 0)}% ({canary.get('state', '')}): {canary.get('message', '')}"
        )
    ready = _condition(status, "Ready")
    if ready.get("status") == "True" or (rollout.get("status") == "True" and rollout.get("reason") == "Promoted"):
        return RolloutView(
            f'guardrail "{name}" successfully rolled out: revision {status.get("stableRevision")} is stable',
            done=True,
        )
    return RolloutView(f'Waiting for guardrail "{name}" to become ready: {ready.get("message") or status.get("phase")}')


def _pct(value: Any) -> str:
    return f"{100 * value:.1f}%" if isinstance(value, int | float) else "-"


def _num(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "-"


def gate_line(canary: Obj) -> str:
    """A candidate in the eval gate or the shadow stage, with the figures measured so far."""
    rev, state = canary.get("revision"), canary.get("state")
    parts = []
    evaluated: Obj = canary.get("evalGate") or {}
    if evaluated:
        parts.append(
            f"eval gate {'passed' if evaluated.get('passed') else 'measured'}: AUROC "
            f"{_num(evaluated.get('candidateAUROC'))} (stable {_num(evaluated.get('stableAUROC'))}), "
            f"P(candidate better) {_num(evaluated.get('leadProbability'), 2)}, "
            f"false blocks {_pct(evaluated.get('falseBlockRate'))}"
        )
    shadow: Obj = canary.get("shadow") or {}
    if shadow:
        parts.append(
            f"shadow: {shadow.get('requests', 0):.0f} answers, disagreement {_pct(shadow.get('disagreement'))}, "
            f"would block {_pct(shadow.get('candidateWouldBlock'))} (stable {_pct(shadow.get('stableBlock'))}), "
            f"score shift {_num(shadow.get('scoreShift'))}, added cost {_num(shadow.get('addedCostMs'), 1)} ms, "
            f"dropped {shadow.get('dropped') or 0:.0f}"
        )
    stage = "eval gate" if state == "EvalGate" else "shadow stage (users get only stable's verdicts)"
    figures = f" [{'; '.join(parts)}]" if parts else ""
    return f"candidate {rev} in the {stage}: {canary.get('message', '')}{figures}"


def predict(action: str, obj: Obj) -> str:
    """What the operator will do about `action` given the current status (for --dry-run)."""
    status: Obj = obj.get("status") or {}
    canary: Obj = status.get("canary") or {}
    active = bool(canary) and canary.get("state") != "RolledBack"
    stable = status.get("stableRevision") or "(none)"
    if action in ("pause", "resume"):
        return f"spec.rollout.paused would be set to {action == 'pause'}"
    if action == "undo" and not active:
        previous = [h.get("revision") for h in status.get("history") or [] if h.get("revision") != stable]
        if not previous:
            return "nothing to undo: no earlier stable revision in status.history"
        return f"stable revision {stable} would be replaced by the previous stable {previous[-1]}"
    if not active and canary and action in ("promote", "promote-full"):
        return f"rolled-back revision {canary.get('revision')} would be retried"
    if not active:
        return f"nothing to {action}: no canary in progress (stable revision {stable})"
    rev, weight = canary.get("revision"), canary.get("weight", 0)
    if action in ("abort", "undo"):
        return f"canary {rev} would be rolled back from {weight}% to 0%; {stable} stays stable"
    if action == "promote-full":
        return f"canary {rev} would be promoted to stable at once (now at {weight}%)"
    return f"canary {rev} would advance one step from {weight}% without waiting for analysis"


def history_rows(obj: Obj) -> list[tuple[str, str, str, str]]:
    """(revision, became stable at, how, marker) per history entry, oldest first; `*` marks the stable one."""
    status: Obj = obj.get("status") or {}
    stable = status.get("stableRevision")
    rows = []
    entries = status.get("history") or []
    for i, h in enumerate(entries):
        current = h.get("revision") == stable and i == max(
            j for j, e in enumerate(entries) if e.get("revision") == stable
        )
        rows.append((h.get("revision", ""), h.get("promotedAt", ""), h.get("reason", ""), "*" if current else ""))
    return rows
