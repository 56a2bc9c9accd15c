"""Build the collector from Go modules into ~/.cache/guardrail-operator/otelcol-<version>/, once per version.

Like the control plane (`guardrail_devcluster.build`): a wrapper module in `<cache>/src/otelcol-<version>/`,
`go build` into a temporary folder, moved into place when it succeeded, so a cached binary is always whole.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from guardrail_otel.errors import PrerequisiteError
from guardrail_otel.source import BINARY, MAIN_GO, go_mod
from guardrail_otel.versions import COLLECTOR

NICENESS = 10  # builds share a small CI box with the tests


def cache_root() -> Path:
    """The project's cache (GUARDRAIL_CACHE_DIR, else $XDG_CACHE_HOME or ~/.cache, then guardrail-operator)."""
    base = os.environ.get("GUARDRAIL_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "guardrail-operator"
    )
    return Path(base)


def install_dir() -> Path:
    return cache_root() / f"otelcol-{COLLECTOR}"


def binary() -> Path:
    """Where the built collector is (built or not)."""
    return install_dir() / BINARY


def is_built() -> bool:
    return binary().is_file()


def _log(message: str) -> None:
    print(f"[otelcol] {message}", file=sys.stderr, flush=True)


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise PrerequisiteError(
            "`go` not found on PATH: the OpenTelemetry Collector is built from Go modules. Install Go 1.21+ "
            "(the go command fetches the newer toolchain the collector needs) and re-run."
        )
    version = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout.strip()
    match = re.match(r"go(\d+)\.(\d+)", version)
    if match and (int(match[1]), int(match[2])) < (1, 21):
        raise PrerequisiteError(f"{version} is too old to fetch toolchains; install Go 1.21 or newer")
    return go


def build(jobs: int | None = None) -> Path:
    """Build the collector (`jobs`: go build -p; default: the go command's own) and return the binary."""
    go = _go()
    src = cache_root() / "src" / f"otelcol-{COLLECTOR}"
    src.mkdir(parents=True, exist_ok=True)
    (src / "go.mod").write_text(go_mod())
    (src / "main.go").write_text(MAIN_GO)
    final = install_dir()
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".otelcol-", dir=final.parent))
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "auto"}
    nice = [n, "-n", str(NICENESS)] if (n := shutil.which("nice")) else []
    cmd = [*nice, go, "build", "-trimpath", "-ldflags", "-s -w", "-o", str(staging / BINARY), "."]
    if jobs is not None:
        cmd[len(nice) + 2 : len(nice) + 2] = ["-p", str(jobs)]
    _log(f"building the OpenTelemetry Collector {COLLECTOR} (otlp receiver, file exporter): minutes the first time")
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=src, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        tail = "\n".join((done.stderr or done.stdout).splitlines()[-30:])
        raise PrerequisiteError(f"building the collector failed (go exit {done.returncode}):\n{tail}")
    staging.chmod(0o755)  # mkdtemp makes it private
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    _log(f"built in {time.monotonic() - started:.0f}s -> {binary()}")
    return binary()


def ensure_built(jobs: int | None = None) -> Path:
    """The collector binary, built first if this version is not cached (a cached one costs a stat)."""
    return binary() if is_built() else build(jobs)
