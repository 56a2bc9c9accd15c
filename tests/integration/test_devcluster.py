"""The local control plane tool: cached builds, clean start and stop."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from guardrail_devcluster import build
from guardrail_devcluster.cluster import LocalCluster, port_open
from guardrail_devcluster.versions import tools

pytestmark = pytest.mark.integration


def test_second_build_reuses_the_cache(cluster: LocalCluster) -> None:
    assert all(build.is_built(t) for t in tools())
    started = time.monotonic()
    build.ensure_built()
    assert time.monotonic() - started < 1.0


def test_binaries_report_their_pinned_versions(cluster: LocalCluster) -> None:
    client = cluster.kubectl("version", "-o", "yaml").stdout
    assert "gitVersion: v1.36.3" in client
    assert "v3.22.0" in cluster.helm("version", "--short").stdout


def test_down_leaves_no_processes_or_ports(cluster: LocalCluster, tmp_path: Path) -> None:
    other = LocalCluster(tmp_path / "second")
    other.start()
    state = other.state()
    assert other.is_running()
    other.stop()
    assert not other.is_running()
    for name, pid in state.pids.items():
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text(), name
    assert not any(port_open(port) for port in state.ports.values())
