"""A real `tritonserver` (the nvidia-pytriton wheel, installed and cached on first use) for the tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from guardrail_models.repository import default_repository
from guardrail_triton.server import Ports, TritonProcess, launch


@contextlib.contextmanager
def triton_server(
    log_dir: Path, source: Path | None = None, ports: Ports | None = None, max_queue_delay_us: int = 0
) -> Iterator[TritonProcess]:
    """Triton serving the python-backend flavour of `source` (default: the committed models) until the block ends."""
    spec = launch(source or default_repository(), ports, max_queue_delay_us)
    with TritonProcess(spec, log_dir / f"triton-{spec.ports.http}.log") as server:
        yield server
