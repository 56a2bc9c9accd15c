"""Install NVIDIA Triton Inference Server from PyPI, cached under ~/.cache keyed by version.

The wheel `nvidia-pytriton` bundles the `tritonserver` binary with its python backend. Two target folders,
never the project's venv:

    <cache>/triton-<server version>/server    nvidia-pytriton, --no-deps (its metadata pins numpy<2 and an
                                              older tritonclient, neither wanted beside the project)
    <cache>/triton-<server version>/python    what the python-backend `model.py` imports: numpy<2 (numpy 2
                                              breaks the stub's output tensors) and onnxruntime, the same
                                              version as the embedded scorer's, so scores are the same

The wheel ships its python backend stubs per Python version but none in `backends/python/`: the one for this
interpreter is copied there. Each folder is installed into a temporary sibling and renamed into place, under
a file lock, so concurrent test workers install once.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from guardrail_devcluster.build import cache_root

from .errors import TritonError

PYTRITON = "nvidia-pytriton==0.7.0"
SERVER_VERSION = "2.51.0"  # the tritonserver inside that wheel
STAMP = ".installed"


def model_requirements() -> list[str]:
    """What the python-backend model imports; onnxruntime pinned to the project's, so both sides match."""
    return ["numpy<2", f"onnxruntime=={importlib.metadata.version('onnxruntime')}"]


@dataclass(frozen=True)
class Installation:
    """Paths of one installed Triton; `ready` says whether both folders are complete."""

    root: Path

    @property
    def server(self) -> Path:
        return self.root / "server"

    @property
    def python_site(self) -> Path:
        return self.root / "python"

    @property
    def home(self) -> Path:
        return self.server / "pytriton" / "tritonserver"

    @property
    def binary(self) -> Path:
        return self.home / "bin" / "tritonserver"

    @property
    def backends(self) -> Path:
        return self.home / "backends"

    @property
    def libs(self) -> Path:
        return self.server / "nvidia_pytriton.libs"

    @property
    def stub(self) -> Path:
        return self.backends / "python" / "triton_python_backend_stub"

    @property
    def ready(self) -> bool:
        return _stamp_ok(self.server, [PYTRITON]) and _stamp_ok(self.python_site, model_requirements())


def installation(version: str = SERVER_VERSION) -> Installation:
    return Installation(cache_root() / f"triton-{version}")


def _stamp_ok(folder: Path, requirements: list[str]) -> bool:
    stamp = folder / STAMP
    return stamp.is_file() and stamp.read_text() == "\n".join(requirements) + "\n"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pip_target(folder: Path, requirements: list[str], no_deps: bool, log: Path) -> None:
    """`pip install --target` into a temporary sibling of `folder`, stamped, then renamed over it."""
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", str(tmp)]
    command += ["--only-binary=:all:", *(["--no-deps"] if no_deps else []), *requirements]
    with log.open("a") as out:
        out.write("$ " + " ".join(command) + "\n")
        out.flush()
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        raise TritonError(f"installing {' '.join(requirements)} failed (exit {result.returncode}); see {log}")
    (tmp / STAMP).write_text("\n".join(requirements) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def _install_stub(install: Installation) -> None:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    source = install.home / "python_backend_stubs" / version / install.stub.name
    if not source.is_file():
        raise TritonError(f"{PYTRITON} has no python backend stub for Python {version} (looked for {source})")
    shutil.copy2(source, install.stub)


def ensure_installed(version: str = SERVER_VERSION, echo: bool = False) -> Installation:
    """Install what is missing (a second call with everything cached does nothing); the installation."""
    install = installation(version)
    if install.ready and install.stub.is_file():
        return install
    log = install.root / "install.log"
    with _locked(install.root / ".lock"):
        if not _stamp_ok(install.server, [PYTRITON]):
            if echo:
                print(f"installing {PYTRITON} (tritonserver {version}) into {install.server}", file=sys.stderr)
            _pip_target(install.server, [PYTRITON], no_deps=True, log=log)
        if not install.stub.is_file():
            _install_stub(install)
        requirements = model_requirements()
        if not _stamp_ok(install.python_site, requirements):
            if echo:
                print(f"installing {', '.join(requirements)} into {install.python_site}", file=sys.stderr)
            _pip_target(install.python_site, requirements, no_deps=False, log=log)
    if not install.binary.is_file():
        raise TritonError(f"{install.binary} missing after installing {PYTRITON}; remove {install.root} and retry")
    return install
