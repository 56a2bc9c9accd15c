"""The kwok fake nodes every local cluster registers: two CPU nodes and one GPU node."""

from __future__ import annotations

from typing import Any

GPU_NODE = "kwok-gpu-0"
CPU_NODES = ("kwok-node-0", "kwok-node-1")
GPU_LABEL = "nvidia.com/gpu.present"


def _node(name: str, *, gpus: int = 0) -> dict[str, Any]:
    allocatable = {"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "500Gi"}
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
        "node-role.kubernetes.io/worker": "",
    }
    if gpus:
        allocatable["nvidia.com/gpu"] = str(gpus)
        labels[GPU_LABEL] = "true"
        labels["nvidia.com/gpu.product"] = "NVIDIA-H100-80GB-HBM3"
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels, "annotations": {"kwok.x-k8s.io/node": "fake"}},
        "spec": {},
        "status": {
            "allocatable": allocatable,
            "capacity": dict(allocatable),
            "nodeInfo": {"kubeletVersion": "fake", "operatingSystem": "linux", "architecture": "amd64"},
        },
    }


def node_manifests() -> list[dict[str, Any]]:
    return [*(_node(n) for n in CPU_NODES), _node(GPU_NODE, gpus=8)]
