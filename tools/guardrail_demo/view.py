"""The live view: recent requests (verdict, score, evidence), tallies per revision, and the Guardrail's status.

On a terminal it is a `rich.live.Live` table; every line also goes to the console log above it, so the output of
a non-interactive run (CI, `--once` piped to a file) tells the same story.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from guardrail_demo.traffic import Outcome

VERDICT_STYLE = {"pass": "green", "flag": "yellow", "block": "red", "error": "magenta", "none": "magenta"}


def outcome_text(o: Outcome) -> Text:
    """One request in one line: kind, transport, question, verdict, score, revision, evidence or reason."""
    score = "  -  " if o.score is None else f"{o.score:.3f}"
    line = Text()
    line.append(f"{o.scenario.kind:<12} {'stream' if o.scenario.stream else 'json':<6} ", style="dim")
    line.append(f"{o.scenario.question[:44]:<44} ")
    line.append(f"{o.verdict:<5}", style=f"bold {VERDICT_STYLE.get(o.verdict, 'white')}")
    line.append(f" {score} rev {o.revision or '-':<10} ")
    detail = o.error or o.reason or ("evidence " + ", ".join(o.evidence[:2]) if o.evidence else "")
    line.append(detail[:90], style="dim")
    return line


def status_table(guardrail: dict[str, Any] | None) -> Table:
    """The Guardrail's status as `kubectl get gr` would summarise it, plus conditions and the canary."""
    table = Table(show_header=False, box=None, padding=(0, 1))
    if guardrail is None:
        table.add_row("Guardrail", "not found")
        return table
    status = guardrail.get("status") or {}
    meta = guardrail.get("metadata") or {}
    table.add_row("Guardrail", f"{meta.get('namespace')}/{meta.get('name')}  generation {meta.get('generation')}")
    table.add_row("phase", f"{status.get('phase', '-')}  (observedGeneration {status.get('observedGeneration', '-')})")
    table.add_row("stable", str(status.get("stableRevision") or "-"))
    canary = status.get("canary")
    if canary:
        table.add_row(
            "canary",
            f"{canary.get('revision')} weight {canary.get('weight')}% state {canary.get('state')} "
            f"failures {canary.get('failures', 0)}",
        )
        if canary.get("message"):
            table.add_row("", str(canary["message"])[:140])
    for condition in status.get("conditions") or []:
        mark = "✔" if condition.get("status") == "True" else "✘"
        table.add_row(
            condition.get("type", ""), f"{mark} {condition.get('reason', '')} {condition.get('message', '')}"[:140]
        )
    return table


class LiveView:
    """Thread-safe: traffic threads call `add`, the main thread `set_status` and `say`."""

    def __init__(self, console: Console, title: str = "guardrail demo", recent: int = 12, inference: str = "") -> None:
        self.console = console
        self.title = title
        self.inference = inference  # e.g. "Triton 2.51.0 (real) gRPC 127.0.0.1:…": what scores the answers
        self._lock = threading.Lock()
        self._recent: deque[Outcome] = deque(maxlen=recent)
        self.tally: Counter[tuple[str, str]] = Counter()
        self._status: dict[str, Any] | None = None
        self._live: Live | None = None
        self.echo_outcomes = True

    def __enter__(self) -> LiveView:
        if self.inference:
            self.console.print(self._inference_line())
        if self.console.is_terminal:
            self._live = Live(self._render(), console=self.console, refresh_per_second=4, transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None
        self.console.print(self._tally_table())

    def add(self, outcome: Outcome) -> None:
        with self._lock:
            self._recent.append(outcome)
            self.tally[(outcome.revision or "-", outcome.verdict)] += 1
        if self.echo_outcomes:
            self.console.print(outcome_text(outcome))
        self._refresh()

    def per_revision(self) -> dict[str, int]:
        """Answers seen so far per revision that scored them."""
        counts: dict[str, int] = {}
        with self._lock:
            for (revision, _), n in self.tally.items():
                counts[revision] = counts.get(revision, 0) + n
        return counts

    def set_status(self, guardrail: dict[str, Any] | None) -> None:
        self._status = guardrail
        self._refresh()

    def say(self, message: str, style: str = "") -> None:
        self.console.print(Text(message, style=style))

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render())

    def _tally_table(self) -> Table:
        table = Table(title="answers by revision and verdict", title_justify="left")
        table.add_column("revision")
        for verdict in ("pass", "flag", "block", "error"):
            table.add_column(verdict, justify="right", style=VERDICT_STYLE[verdict])
        with self._lock:
            revisions = sorted({rev for rev, _ in self.tally})
            for rev in revisions:
                table.add_row(rev, *(str(self.tally[(rev, v)]) for v in ("pass", "flag", "block", "error")))
        return table

    def _inference_line(self) -> Text:
        line = Text("inference  ", style="dim")
        line.append(self.inference, style="bold cyan")
        return line

    def _render(self) -> Group:
        with self._lock:
            recent = list(self._recent)
        requests = Group(*(outcome_text(o) for o in recent)) if recent else Text("no requests yet", style="dim")
        status = (
            Group(self._inference_line(), status_table(self._status)) if self.inference else status_table(self._status)
        )
        return Group(
            Panel(status, title=self.title, title_align="left"),
            Panel(requests, title="recent requests", title_align="left"),
            self._tally_table(),
        )
