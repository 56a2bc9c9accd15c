"""Fixtures for operator integration tests (helpers in `helpers.py`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from guardrail_devcluster.cluster import LocalCluster
from guardrail_operator.clients.k8s import KubeClient, load_api_client
from tests.integration.operator.helpers import OperatorProcess


@pytest.fixture
def kube(cluster: LocalCluster) -> KubeClient:
    return KubeClient(load_api_client(str(cluster.kubeconfig)), "guardrail-tests")


@pytest.fixture
def start_operator(cluster: LocalCluster, namespace: str, tmp_path: Path) -> Iterator[Callable[[str], OperatorProcess]]:
    """`start_operator(identity)` starts an operator watching the test namespace; all are stopped after."""
    started: list[OperatorProcess] = []

    def start(identity: str = "op-a") -> OperatorProcess:
        op = OperatorProcess(cluster, namespace, identity, tmp_path)
        started.append(op)
        return op

    yield start
    for op in started:
        op.stop()


@pytest.fixture
def qdrant_volume(cluster: LocalCluster, namespace: str) -> Iterator[None]:
    """A PersistentVolume pre-bound to the managed Qdrant's claim (the control plane has no provisioner)."""
    name = f"{namespace}-qdrant"
    volume = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": "10Gi"},
            "accessModes": ["ReadWriteOnce"],
            "hostPath": {"path": f"/tmp/{name}"},
            "claimRef": {"namespace": namespace, "name": "storage-support-bot-qdrant-0"},
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(volume))
    yield
    cluster.kubectl("delete", "pv", name, "--wait=false", check=False)
