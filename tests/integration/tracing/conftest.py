"""Fixtures for the tracing tests: a real OpenTelemetry Collector (built from Go modules, `guardrail_otel`),
the scripted app of `traced_app.py`, and sidecars with the adversarial harness's embedded models and
knowledge base, started with or without the OTEL_* variables.

- `collector` -> `Collector` (module-scoped): `.otel_env(service)`, `.spans()`, `.wait_for_spans(done)`.
- `app` -> `TracedApp`: `.url`, `.port`, `.seen()` (the trace headers of each request it got), `.reset()`.
- `start_traced_sidecar(env)` -> `Sidecar`: a sidecar (`adversarial.conftest.base_config`) in front of `app`,
  its process given `env` on top of this one's (OTEL_* variables removed first).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from guardrail_devcluster.cluster import free_port
from guardrail_otel.collector import Collector
from tests.integration.adversarial import conftest as adversarial
from tests.integration.adversarial.conftest import START_TIMEOUT, base_config, deep_merge
from tests.integration.sidecar.conftest import Calibration, Sidecar
from tests.integration.tracing import traced_app
from tests.support.processes import PYTHON, REPO, running, stop, wait_http

calibration_and_kb = adversarial.calibration_and_kb  # the session fixture: scores, threshold, knowledge base


@dataclass(frozen=True)
class TracedApp:
    url: str
    port: int

    def seen(self) -> list[dict[str, str | None]]:
        found: list[dict[str, str | None]] = httpx.get(self.url + "/_seen", timeout=10).json()
        return found

    def reset(self) -> None:
        httpx.post(self.url + "/_reset", timeout=10)


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    with Collector(tmp_path_factory.mktemp("otelcol")) as running_collector:
        yield running_collector


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TracedApp]:
    port = free_port()
    log = tmp_path_factory.mktemp("traced-app") / "app.log"
    url = f"http://127.0.0.1:{port}"
    with running([PYTHON, str(Path(traced_app.__file__)), "--port", str(port)], url + "/_seen", log):
        yield TracedApp(url, port)


StartSidecar = Callable[[dict[str, str]], Sidecar]


@pytest.fixture(scope="module")
def start_traced_sidecar(
    tmp_path_factory: pytest.TempPathFactory, calibration_and_kb: tuple[Calibration, Path], app: TracedApp
) -> Iterator[StartSidecar]:
    calibration, kb = calibration_and_kb
    with contextlib.ExitStack() as stack:

        def start(env: dict[str, str]) -> Sidecar:
            folder = tmp_path_factory.mktemp("traced-sidecar")
            shutil.copytree(kb, folder / "kb")
            listen, admin = free_port(), free_port()
            overrides = {
                "proxy": {"listenPort": listen},
                "adminPort": admin,
                "qdrantOverride": {"path": str(folder / "kb")},
            }
            config = deep_merge(base_config(calibration, app.port), overrides)
            path = folder / "sidecar.yaml"
            path.write_text(yaml.safe_dump(config))
            sidecar = Sidecar(f"http://127.0.0.1:{listen}", f"http://127.0.0.1:{admin}", path, config, folder / "log")
            clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
            with sidecar.log.open("wb") as log:
                proc = subprocess.Popen(
                    [PYTHON, "-m", "guardrail_sidecar", "--config", str(path)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=REPO,
                    env={**clean, **env},
                )
            stack.callback(stop, proc)
            try:
                wait_http(sidecar.admin + "/readyz", proc, START_TIMEOUT)
            except (RuntimeError, TimeoutError) as exc:
                raise RuntimeError(f"{exc}\n--- {sidecar.log} ---\n{sidecar.log.read_text()[-4000:]}") from exc
            return sidecar

        yield start
