"""The demo's process supervisor with real processes: readiness, a process dying at start-up, clean stops."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from guardrail_demo.errors import ProcessFailed
from guardrail_demo.supervisor import Supervisor

pytestmark = pytest.mark.integration
STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"


def test_a_process_that_dies_during_start_up_is_named_with_its_log(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path / "logs")
    script = "import sys; print('cannot bind the port'); sys.exit(3)"
    with pytest.raises(ProcessFailed, match=r"(?s)broken exited with 3.*cannot bind the port.*broken\.log"):
        sup.start("broken", [sys.executable, "-c", script], lambda: False, timeout=20)
    sup.stop_all()


def test_stop_all_terminates_newest_first_and_kills_what_ignores_sigterm(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path / "logs")
    log = tmp_path / "logs" / "stubborn.log"
    polite = sup.start("polite", [sys.executable, "-c", "import time; time.sleep(60)"], lambda: True)
    stubborn = sup.start(
        "stubborn",
        [sys.executable, "-c", STUBBORN],
        lambda: log.exists() and "up" in log.read_text(),
        grace=0.5,
    )
    report = sup.stop_all()
    assert [line.split()[:2] for line in report] == [["stubborn", "killed"], ["polite", "stopped"]]
    assert stubborn.process.poll() is not None
    assert polite.process.poll() is not None
    assert sup.stop_all() == []  # idempotent
