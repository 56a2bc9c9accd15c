"""Start local processes, wait until they answer, and stop every one of them (reverse order) at the end.

Each process gets its own session (so a Ctrl-C in the terminal reaches the demo, which then stops them in
order) and its own log file; `Supervisor.describe()` lists the logs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from guardrail_demo.errors import ProcessFailed


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when `url` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - local URLs only
            return bool(response.status == 200)
    except OSError:
        return False


@dataclass
class Managed:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    url: str = ""
    grace: float = 10.0  # seconds between SIGTERM and SIGKILL


class Supervisor:
    """Owns the processes it started; `stop_all` is safe to call more than once."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: list[Managed] = []

    def start(
        self,
        name: str,
        args: Sequence[str],
        ready: Callable[[], bool],
        *,
        env: Mapping[str, str] | None = None,
        timeout: float = 90.0,
        url: str = "",
        grace: float = 10.0,
    ) -> Managed:
        """Start `args` logging to `<log_dir>/<name>.log` and wait until `ready()`; ProcessFailed otherwise."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                list(args),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env if env is not None else os.environ),
                start_new_session=True,
            )
        managed = Managed(name, process, log, url, grace)
        self.processes.append(managed)
        deadline = time.monotonic() + timeout
        while not ready():
            if process.poll() is not None:
                raise ProcessFailed(
                    f"{name} exited with {process.returncode} during start-up: {tail(log)}\n(log: {log})"
                )
            if time.monotonic() > deadline:
                raise ProcessFailed(f"{name} did not become ready within {timeout:.0f}s (log: {log})")
            time.sleep(0.2)
        return managed

    def check(self) -> None:
        """ProcessFailed naming the first process that has exited."""
        for managed in self.processes:
            if managed.process.poll() is not None:
                raise ProcessFailed(
                    f"{managed.name} exited with {managed.process.returncode}: {tail(managed.log)}\n"
                    f"(log: {managed.log})"
                )

    def stop_all(self) -> list[str]:
        """SIGTERM every process (newest first), SIGKILL what still runs after its grace period; what happened."""
        stopped = []
        while self.processes:
            managed = self.processes.pop()
            process = managed.process
            if process.poll() is not None:
                continue
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=managed.grace)
                how = "stopped"
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                how = "killed"
            stopped.append(f"{managed.name} {how} in {time.monotonic() - started:.1f}s")
        return stopped

    def describe(self) -> list[tuple[str, str, Path]]:
        """(name, url, log) of every running process."""
        return [(m.name, m.url, m.log) for m in self.processes]


def tail(log: Path, lines: int = 5) -> str:
    """The last lines of a log file (empty when unreadable)."""
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
