"""How the demo talks: numbered steps, notes, and the problems that decide its exit code.

Messages are plain text (never Rich markup), so names, reasons and URLs are printed exactly as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console
from rich.text import Text


@dataclass
class Report:
    console: Console
    failures: list[str] = field(default_factory=list)

    def _line(self, text: str, style: str = "") -> None:
        self.console.print(Text(text, style=style), highlight=False)

    def step(self, message: str) -> None:
        self._line(f"\n==> {message}", "bold cyan")

    def note(self, message: str) -> None:
        self._line(f"    {message}")

    def ok(self, message: str) -> None:
        self._line(f"    ✔ {message}", "bold green")

    def warn(self, message: str) -> None:
        self._line(f"    ! {message}", "bold yellow")

    def fail(self, message: str) -> None:
        """A problem that makes the demo exit non-zero."""
        self.failures.append(message)
        self._line(f"    ✘ {message}", "bold red")

    def verdict(self, ok: bool, message: str) -> None:
        self._line(message, "bold green" if ok else "bold red")
