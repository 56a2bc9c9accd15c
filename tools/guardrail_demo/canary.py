"""What a rollout did, judged from the Guardrail statuses seen while it ran. Pure.

The operator owns the rollout (`status.canary`, `status.stableRevision`); the demo only applies specs and
watches. An operator without canary support promotes a new revision directly: no `status.canary` ever
appears and `stableRevision` jumps to the new revision; that is reported as such, never as a canary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Result = Literal["promoted", "rolled-back", "no-canary-support", "waiting"]


@dataclass
class RolloutWatch:
    """Fold statuses in with `see`; `result` says what happened to `target` so far."""

    target: str
    previous_stable: str
    weights: list[int] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    canary_seen: bool = False
    message: str = ""
    stable: str = ""
    rolled_back: bool = False

    def see(self, status: dict[str, Any]) -> list[str]:
        """Fold in one status; the transitions it showed, in words (for the output)."""
        said: list[str] = []
        canary = status.get("canary") or {}
        self.stable = str(status.get("stableRevision") or "")
        if canary.get("revision") == self.target:
            self.canary_seen = True
            weight, state = int(canary.get("weight") or 0), str(canary.get("state") or "")
            message = str(canary.get("message") or "")
            if weight and (not self.weights or self.weights[-1] != weight):
                self.weights.append(weight)
                said.append(f"canary {self.target} at {weight}% of requests ({state})")
            if state and (not self.states or self.states[-1] != state):
                self.states.append(state)
                if state not in ("Progressing",):
                    said.append(f"canary state {state}" + (f": {message}" if message else ""))
            if message and message != self.message:
                self.message = message
                said.append(f"analysis: {message}")
            if state == "RolledBack":
                self.rolled_back = True
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
