"""What a rollout did, judged from the Guardrail's status and Events seen while it ran. Pure.

The operator owns the rollout (`status.canary`, `status.stableRevision`, an Event per step); the demo only
applies specs and watches. Steps that last an instant (100 % is promoted at once) show only in the Events, so
both are folded in. An operator without canary support promotes a new revision directly: no `status.canary`
and no step Event ever mention it and `stableRevision` jumps to it; that is reported as such, never as a canary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

Result = Literal["promoted", "rolled-back", "no-canary-support", "waiting"]
_WEIGHT = re.compile(r"(\d+)% of requests")
OUTCOME_REASONS = ("Promoted", "RolledBack")  # Events that say how a rollout ended, and why


@dataclass
class RolloutWatch:
    """Fold statuses in with `see` and Events with `see_event`; `result` says what happened to `target`."""

    target: str
    previous_stable: str
    weights: list[int] = field(default_factory=list)
    canary_seen: bool = False
    message: str = ""
    stable: str = ""
    rolled_back: bool = False
    _state: str = ""

    def _weight(self, weight: int, said: list[str]) -> None:
        self.canary_seen = True
        if weight and weight not in self.weights:
            self.weights.append(weight)
            said.append(f"canary {self.target} scores {weight}% of requests")

    def see(self, status: dict[str, Any]) -> list[str]:
        """Fold in one status; what it showed that is new, in words (for the output)."""
        said: list[str] = []
        canary = status.get("canary") or {}
        self.stable = str(status.get("stableRevision") or "")
        if canary.get("revision") != self.target:
            return said
        self.canary_seen = True
        self._weight(int(canary.get("weight") or 0), said)
        state = str(canary.get("state") or "")
        if state and state != self._state:
            self._state = state
            said.append(f"canary state {state}")
        if state == "RolledBack":
            self.rolled_back = True
            self.message = str(canary.get("message") or self.message)
        return said

    def see_event(self, reason: str, message: str) -> list[str]:
        """Fold in one Event of the Guardrail; the line to print when it concerns this rollout."""
        if self.target not in message:
            return []
        said: list[str] = []
        if reason == "CanaryWeight" and (match := _WEIGHT.search(message)):
            self._weight(int(match.group(1)), said)
        said.append(f"event {reason}: {message}")
        if reason in OUTCOME_REASONS:
            self.message = message
        return said

    @property
    def result(self) -> Result:
        if self.rolled_back and self.stable == self.previous_stable:
            return "rolled-back"
        if self.stable == self.target:
            return "promoted" if self.canary_seen else "no-canary-support"
        return "waiting"

    def steps_shown(self) -> str:
        """The weights the canary went through, e.g. `10 → 50 → 100`."""
        return " → ".join(str(w) for w in self.weights) or "none"
