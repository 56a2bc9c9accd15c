"""The control plane is real: the API server validates Guardrails, kwok runs pods, controllers collect garbage."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from guardrail_cases import INVALID, example
from guardrail_devcluster.cluster import LocalCluster
from guardrail_devcluster.errors import CommandError
from tests.integration.operator.helpers import wait_for

pytestmark = pytest.mark.integration


def _apply(cluster: LocalCluster, namespace: str, doc: dict[str, Any]) -> str:
    doc = {**doc, "metadata": {**doc["metadata"], "namespace": namespace}}
    return cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc)).stdout


def test_valid_example_is_accepted_and_defaulted(cluster: LocalCluster, namespace: str) -> None:
    _apply(cluster, namespace, example())
    stored = json.loads(cluster.kubectl("get", "gr", "support-bot", "-n", namespace, "-o", "json").stdout)
    assert stored["spec"]["policy"]["refusalMessage"]  # defaulted by the API server from the CRD schema
    assert stored["spec"]["proxy"]["maxRequestBytes"] == 1_048_576
    assert stored["spec"]["models"]["injection"] == {"name": "injection", "version": "1"}


@pytest.mark.parametrize(("case", "doc", "field"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_guardrail_is_rejected_naming_the_field(
    cluster: LocalCluster, namespace: str, case: str, doc: dict[str, Any], field: str
) -> None:
    doc = {**doc, "metadata": {"name": f"bad-{case}", "namespace": namespace}}
    with pytest.raises(CommandError) as raised:
        cluster.kubectl("create", "-f", "-", input=yaml.safe_dump(doc))
    message = raised.value.stderr
    assert field in message, message
    assert cluster.kubectl("get", "gr", f"bad-{case}", "-n", namespace, check=False).returncode != 0


def test_kubectl_explain_documents_fields(cluster: LocalCluster) -> None:
    out = cluster.kubectl("explain", "guardrail.spec").stdout
    assert "Pods (in this namespace) that get the scoring sidecar." in out
    policy = cluster.kubectl("explain", "guardrail.spec.policy.softLimit").stdout
    assert "flagged for human review" in policy


def test_get_gr_shows_printer_columns(cluster: LocalCluster, namespace: str) -> None:
    _apply(cluster, namespace, example())
    header = cluster.kubectl("get", "gr", "-n", namespace).stdout.splitlines()[0].split()
    assert header == ["NAME", "PHASE", "STABLE", "CANARY", "WEIGHT", "READY", "AGE"]
    categories = cluster.kubectl("get", "guardrails", "-n", namespace, "-o", "name").stdout
    assert "guardrail.guardrails.dev/support-bot" in categories


def test_deployment_becomes_available_on_kwok_nodes(cluster: LocalCluster, namespace: str) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(deployment))
    cluster.kubectl("rollout", "status", "deployment/web", "-n", namespace, "--timeout=90s", timeout=100)
    pods = json.loads(cluster.kubectl("get", "pods", "-n", namespace, "-l", "app=web", "-o", "json").stdout)
    assert len(pods["items"]) == 2
    for pod in pods["items"]:
        assert pod["spec"]["nodeName"].startswith("kwok-")
        assert {"type": "Ready", "status": "True"}.items() <= next(
            c for c in pod["status"]["conditions"] if c["type"] == "Ready"
        ).items()


def test_gpu_pod_lands_on_the_gpu_node(cluster: LocalCluster, namespace: str) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "gpu", "namespace": namespace},
        "spec": {"containers": [{"name": "c", "image": "triton", "resources": {"limits": {"nvidia.com/gpu": 1}}}]},
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(pod))
    cluster.kubectl("wait", "--for=condition=Ready", "pod/gpu", "-n", namespace, "--timeout=60s", timeout=70)
    node = cluster.kubectl("get", "pod", "gpu", "-n", namespace, "-o", "jsonpath={.spec.nodeName}").stdout
    assert node == "kwok-gpu-0"


def test_deleting_an_owner_garbage_collects_its_dependents(cluster: LocalCluster, namespace: str) -> None:
    cluster.kubectl("create", "configmap", "owner", "-n", namespace)
    uid = cluster.kubectl("get", "configmap", "owner", "-n", namespace, "-o", "jsonpath={.metadata.uid}").stdout
    dependent = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "dependent",
            "namespace": namespace,
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}],
        },
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(dependent))
    cluster.kubectl("delete", "configmap", "owner", "-n", namespace)
    wait_for(
        "the garbage collector to delete the dependent",
        lambda: cluster.kubectl("get", "configmap", "dependent", "-n", namespace, check=False).returncode != 0,
        timeout=60,
        interval=0.5,
    )
