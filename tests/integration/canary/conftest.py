"""A real Prometheus scraping a real process that exposes the sidecar's metric families with steady traffic."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from guardrail_devcluster.cluster import free_port
from tests.integration.canary.promtools import prometheus, wait_until
from tests.integration.canary.traffic import PROFILE
from tests.support.processes import PYTHON, running

EXPORTER = Path(__file__).with_name("traffic_exporter.py")


@pytest.fixture(scope="session")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Prometheus scraping the traffic exporter every second, with a few scrapes of data already in."""
    tmp = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    exporter = [PYTHON, str(EXPORTER), "--port", str(port), "--profile", json.dumps(PROFILE)]
    with (
        running(exporter, f"http://127.0.0.1:{port}/metrics", tmp / "exporter.log"),
        prometheus([f"127.0.0.1:{port}"], tmp) as url,
    ):
        wait_until(url, 'sum(count_over_time(up{job="sidecars"}[1m]))', 5)
        yield url
