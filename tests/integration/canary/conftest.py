"""A real Prometheus (Debian's `prometheus`, installed here when missing and allowed) scraping real processes
that expose the sidecar's metric families."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from guardrail_operator.prometheus import Prometheus
from tests.support.processes import PYTHON, free_port, running

EXPORTER = Path(__file__).with_name("traffic_exporter.py")
SCRAPE_INTERVAL_S = 1
# revision -> synthetic traffic; the stable revision and one canary per scenario
PROFILE = {
    "stable1": {"rps": 150, "block": 0.05, "latency": 0.02},
    "good1": {"rps": 50, "block": 0.06, "latency": 0.03},
    "blocky1": {"rps": 50, "block": 0.6, "latency": 0.03},
    "slow1": {"rps": 50, "block": 0.05, "latency": 0.8},
    "flaky1": {"rps": 50, "block": 0.05, "latency": 0.02, "errors": 0.2, "failOpen": 1},
    "quiet1": {"rps": 0.5, "block": 0.05, "latency": 0.02},
}


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


@pytest.fixture(scope="session")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Prometheus scraping the traffic exporter every second, with a few scrapes of data already in."""
    binary = prometheus_binary()
    tmp = tmp_path_factory.mktemp("prometheus")
    exporter_port, port = free_port(), free_port()
    config = {
        "global": {"scrape_interval": f"{SCRAPE_INTERVAL_S}s", "evaluation_interval": "10s"},
        "scrape_configs": [{"job_name": "sidecars", "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}]}],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    exporter = [PYTHON, str(EXPORTER), "--port", str(exporter_port), "--profile", json.dumps(PROFILE)]
    server = [
        binary,
        f"--config.file={tmp / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    url = f"http://127.0.0.1:{port}"
    with (
        running(exporter, f"http://127.0.0.1:{exporter_port}/metrics", tmp / "exporter.log"),
        running(server, f"{url}/-/ready", tmp / "prometheus.log"),
    ):
        wait_for_scrapes(url, 8)
        yield url


def wait_for_scrapes(url: str, count: int, timeout: float = 60) -> None:
    """Until Prometheus holds `count` successful scrapes of the exporter (so `increase` has data to work on)."""
    deadline = time.monotonic() + timeout
    with Prometheus(url) as prom:
        while time.monotonic() < deadline:
            if (prom.query('sum(count_over_time(up{job="sidecars"}[1m]))') or 0) >= count:
                return
            time.sleep(0.5)
    raise TimeoutError(f"Prometheus at {url} did not scrape the exporter {count} times within {timeout}s")
