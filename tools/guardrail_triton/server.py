"""Run the installed `tritonserver` on loopback ports with the python-backend flavour of a model repository.

`prepare()` renders the flavour (symlinks to the source's model files, so nothing large is copied) into a
folder of the cache named by a hash of everything that goes into it: servers started from the same source share
it, and a changed model or setting gets a new one. `launch()` installs (cached) and prepares, and returns a
`TritonLaunch`: the command line and environment. `TritonProcess` runs it as a child (tests, the eval, the
benchmarks); the demo runs it under its supervisor; `guardrail triton serve` replaces itself with it (exec).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from guardrail_devcluster.cluster import free_port
from guardrail_models.package import list_models
from guardrail_models.python_backend import (
    DEFAULT_SERVING,
    CpuServing,
    model_py_source,
    render_python_config,
    write_python_repository,
)
from guardrail_models.repository import read_info

from .errors import TritonError
from .install import Installation, ensure_installed

PYTHON_SITE_ENV = "GUARDRAIL_TRITON_PYTHON_SITE"  # read by the python-backend model.py
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Ports:
    http: int = field(default_factory=free_port)
    grpc: int = field(default_factory=free_port)
    metrics: int = field(default_factory=free_port)

    @property
    def http_url(self) -> str:
        return f"{HOST}:{self.http}"

    @property
    def grpc_url(self) -> str:
        return f"{HOST}:{self.grpc}"

    @property
    def metrics_url(self) -> str:
        return f"http://{HOST}:{self.metrics}/metrics"

    @property
    def ready_url(self) -> str:
        return f"http://{HOST}:{self.http}/v2/health/ready"


def _fingerprint(source: Path, serving: CpuServing) -> str:
    digest = hashlib.sha256(model_py_source().encode())
    for name, version in list_models(source):
        version_dir = (source / name / str(version)).resolve()
        info = read_info(version_dir)
        digest.update(f"{version_dir}\0{render_python_config(info, serving)}\0".encode())
        for file in sorted(version_dir.iterdir()):
            stat = file.stat()
            digest.update(f"{file.name}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()[:16]


def prepare(
    source: Path,
    install: Installation,
    serving: CpuServing = DEFAULT_SERVING,
) -> Path:
    """The python-backend flavour of `source`, rendered once into the cache (atomically); its folder."""
    out = install.root / "repositories" / _fingerprint(source, serving)
    if out.is_dir():
        return out
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    write_python_repository(source, tmp, serving, link=True)
    try:
        tmp.rename(out)
    except OSError:  # another process placed it first: same content
        shutil.rmtree(tmp, ignore_errors=True)
    return out


@dataclass(frozen=True)
class TritonLaunch:
    """The `tritonserver` command line and environment for one repository on loopback ports."""

    install: Installation
    repository: Path
    ports: Ports
    exit_timeout_s: int = 3  # unloading the python models takes about a second
    log_verbose: int = 0

    @property
    def argv(self) -> list[str]:
        p = self.ports
        return [
            str(self.install.binary),
            f"--model-repository={self.repository}",
            f"--backend-directory={self.install.backends}",
            f"--http-address={HOST}",
            f"--http-port={p.http}",
            f"--grpc-address={HOST}",
            f"--grpc-port={p.grpc}",
            f"--metrics-address={HOST}",
            f"--metrics-port={p.metrics}",
            "--allow-metrics=true",
            "--allow-gpu-metrics=false",
            "--metrics-interval-ms=1000",
            "--pinned-memory-pool-byte-size=0",
            "--strict-readiness=true",
            "--exit-on-error=true",
            f"--exit-timeout-secs={self.exit_timeout_s}",
            f"--log-verbose={self.log_verbose}",
        ]

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        libs = [str(self.install.libs), *filter(None, env.get("LD_LIBRARY_PATH", "").split(":"))]
        env["LD_LIBRARY_PATH"] = ":".join(libs)
        env[PYTHON_SITE_ENV] = str(self.install.python_site)
        return env


def launch(
    source: Path,
    ports: Ports | None = None,
    serving: CpuServing = DEFAULT_SERVING,
    echo: bool = False,
) -> TritonLaunch:
    """Install (cached), render the python-backend flavour of `source`, and say how to start the server."""
    install = ensure_installed(echo=echo)
    repository = prepare(source, install, serving)
    return TritonLaunch(install, repository, ports or Ports())


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - a loopback URL we built
            return bool(response.status == 200)
    except OSError:
        return False


class TritonProcess:
    """A running `tritonserver`, stopped (SIGTERM, then SIGKILL) by `stop()` or at the end of a `with` block."""

    def __init__(self, spec: TritonLaunch, log: Path, timeout: float = 120.0) -> None:
        self.spec = spec
        self.log = log
        self.timeout = timeout
        log.parent.mkdir(parents=True, exist_ok=True)
        self.proc = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            proc = subprocess.Popen(
                self.spec.argv, stdout=out, stderr=subprocess.STDOUT, env=self.spec.env, start_new_session=True
            )
        deadline = time.monotonic() + self.timeout
        while not ready(self.spec.ports.ready_url):
            if proc.poll() is not None:
                raise TritonError(f"tritonserver exited with {proc.returncode}:\n{self.log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise TritonError(f"tritonserver not ready within {self.timeout:.0f}s:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)
        return proc

    def restart(self) -> None:
        """Start the server again on the same ports and repository (after `kill()` or `stop()`)."""
        self.stop()
        self.proc = self._start()

    def kill(self) -> None:
        """SIGKILL to the server and its python backend stubs (its process group): a crash, not a drain."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its python backend stubs too (own session)
            self.proc.wait()

    def stop(self, grace: float = 15.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> TritonProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
