"""A real Prometheus for tests: Debian's `prometheus` (installed with apt-get when missing and we are root,
else the test is skipped), started on a free 127.0.0.1 port with a generated config scraping given targets."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from guardrail_devcluster.cluster import free_port
from guardrail_operator.clients.prometheus import Prometheus
from tests.support.processes import running

SCRAPE_INTERVAL_S = 1


def prometheus_binary() -> str:
    """The prometheus binary; installed with apt-get when missing and we are root, else the test is skipped."""
    found = shutil.which("prometheus") or ("/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None)
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("prometheus is not installed (as root: apt-get install prometheus)")
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "prometheus"]
    result = subprocess.run(install, env=env, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0 or not Path("/usr/bin/prometheus").exists():
        pytest.skip(f"could not install prometheus: {result.stderr[-500:]}")
    return "/usr/bin/prometheus"


@contextlib.contextmanager
def prometheus(targets: list[str], tmp: Path, triton: list[str] | None = None) -> Iterator[str]:
    """A Prometheus scraping `targets` (host:port, path /metrics) every second, and Triton's metrics ports as job
    `triton` (the job name the chart's alerts select); yields its URL."""
    binary = prometheus_binary()
    port = free_port()
    jobs = [{"job_name": "sidecars", "static_configs": [{"targets": targets}]}]
    if triton:
        jobs.append({"job_name": "triton", "static_configs": [{"targets": triton}]})
    config = {
        "global": {"scrape_interval": f"{SCRAPE_INTERVAL_S}s", "evaluation_interval": "10s"},
        "scrape_configs": jobs,
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    server = [
        binary,
        f"--config.file={tmp / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    url = f"http://127.0.0.1:{port}"
    with running(server, f"{url}/-/ready", tmp / "prometheus.log"):
        yield url


def wait_until(url: str, promql: str, minimum: float, timeout: float = 60) -> None:
    """Until `promql` evaluates to at least `minimum` (e.g. enough scrapes, or the latest counts scraped)."""
    deadline = time.monotonic() + timeout
    with Prometheus(url) as prom:
        while time.monotonic() < deadline:
            if (prom.query(promql) or 0) >= minimum:
                return
            time.sleep(0.3)
    raise TimeoutError(f"{promql} did not reach {minimum} at {url} within {timeout}s")
