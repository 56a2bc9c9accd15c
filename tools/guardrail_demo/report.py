"""How the demo talks: numbered steps, notes, and the problems that decide its exit code."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console


@dataclass
class Report:
    console: Console
    failures: list[str] = field(default_factory=list)

    def step(self, message: str) -> None:
        self.console.print(f"\n[bold cyan]==> {message}[/]")

    def note(self, message: str) -> None:
        self.console.print(f"    {message}", highlight=False)

    def ok(self, message: str) -> None:
        self.console.print(f"[bold green]    ✔ {message}[/]")

    def warn(self, message: str) -> None:
        self.console.print(f"[bold yellow]    ! {message}[/]")

    def fail(self, message: str) -> None:
        """A problem that makes the demo exit non-zero."""
        self.failures.append(message)
        self.console.print(f"[bold red]    ✘ {message}[/]")
