"""Starting and stopping real server processes in tests: free ports, readiness polling, clean shutdown."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0, status: int = 200) -> None:
    """Poll `url` until it answers `status`; fail early (with the process's output) if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered:\n{out[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - local test URL
                if response.status == status:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer {status} within {timeout}s")


@contextlib.contextmanager
def running(args: list[str], ready_url: str, log: Path, timeout: float = 60.0) -> Iterator[subprocess.Popen[bytes]]:
    """A process whose output goes to `log`; stopped (SIGTERM, then SIGKILL) when the block ends."""
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env=os.environ.copy())
    try:
        try:
            wait_http(ready_url, proc, timeout)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{exc}\n--- {log} ---\n{log.read_text()[-4000:]}") from exc
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
