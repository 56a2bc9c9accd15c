"""Shared fixtures: a real local control plane for integration and e2e tests.

`cluster` (session) starts its own control plane in a temporary directory (binaries are built on first use
and cached under ~/.cache/guardrail-operator). Set GUARDRAIL_TEST_CLUSTER=reuse to run against the one
`make cluster` started instead. The Guardrail CRD from `crds/` is installed either way.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from guardrail_devcluster.cluster import CRD_DIR, REPO_ROOT, LocalCluster


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A running control plane: `.kubeconfig`, `.env`, `.kubectl(...)`, `.helm(...)`, `.audit_log`."""
    if os.environ.get("GUARDRAIL_TEST_CLUSTER") == "reuse":
        shared = LocalCluster(REPO_ROOT / ".cluster")
        if not shared.is_running():
            pytest.fail("GUARDRAIL_TEST_CLUSTER=reuse but no control plane is running: run `make cluster` first")
        shared.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_DIR))
        yield shared
        return
    own = LocalCluster(tmp_path_factory.mktemp("cluster"))
    own.start()
    try:
        yield own
    finally:
        own.stop()


@pytest.fixture
def namespace(cluster: LocalCluster) -> Iterator[str]:
    """A fresh namespace, deleted (without waiting) after the test."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
