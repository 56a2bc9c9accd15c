"""A real `tritonserver` (the nvidia-pytriton wheel, installed and cached on first use) for the tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from guardrail_models.python_backend import DEFAULT_SERVING, CpuServing
from guardrail_models.repository import default_repository
from guardrail_triton.server import Ports, TritonProcess, launch


@contextlib.contextmanager
def triton_server(
    log_dir: Path, source: Path | None = None, ports: Ports | None = None, serving: CpuServing = DEFAULT_SERVING
) -> Iterator[TritonProcess]:
    """Triton serving the python-backend flavour of `source` (default: the committed models) until the block ends."""
    spec = launch(source or default_repository(), ports, serving)
    with TritonProcess(spec, log_dir / f"triton-{spec.ports.http}.log") as server:
        yield server
