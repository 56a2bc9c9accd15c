"""Knowledge-base ingestion on the real control plane: the operator runs `guardrail kb ingest` as a Job when
`spec.knowledgeBase.sources` change, pins the version the Job reports into a new revision that goes through
the canary, and keeps the stable revision serving when the Job fails.

kwok runs no containers: the Job controller and kwok complete the Job's Pod, and the test plays the kubelet's
part of writing the ingest container's termination message (the result the operator reads). A failing Job
is a real one: its Pod cannot be scheduled (its PVC does not exist) and its deadline is cut to one second.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from guardrail_devcluster.cluster import LocalCluster
from guardrail_operator.clients.k8s import KubeClient
from tests.integration.operator.helpers import (
    OperatorProcess,
    apply,
    condition,
    example_guardrail,
    guardrail_status,
    healthy,
    wait_for,
)

pytestmark = pytest.mark.integration
StartOperator = Callable[[str], OperatorProcess]
KB_JOBS = "app.kubernetes.io/component=knowledge-base"
VERSION = "0123456789"
RESULT = {
    "collection": "support-facts",
    "version": VERSION,
    "documents": 2,
    "chunks": 5,
    "quarantined": 1,
    "ingestedAt": "2026-01-01T00:00:00Z",
    "unreadable": 0,
}


def with_sources(namespace: str, sources: list[dict[str, str]]) -> dict[str, Any]:
    body = example_guardrail(namespace)
    body["spec"]["knowledgeBase"]["sources"] = sources
    return body


def the_job(kube: KubeClient, namespace: str) -> dict[str, Any] | None:
    jobs = kube.list("Job", namespace, KB_JOBS)
    assert len(jobs) <= 1, "one ingestion Job at a time"
    return jobs[0] if jobs else None


def succeeded_pod(kube: KubeClient, namespace: str, job: str) -> dict[str, Any] | None:
    pods = kube.list("Pod", namespace, f"batch.kubernetes.io/job-name={job}")
    return next((p for p in pods if p.get("status", {}).get("phase") == "Succeeded"), None)


def collection_of(kube: KubeClient, namespace: str, revision: str) -> str:
    data = kube.get("ConfigMap", namespace, f"support-bot-config-{revision}")["data"]["revision.yaml"]
    return str(yaml.safe_load(data)["knowledgeBase"]["collection"])


@pytest.mark.usefixtures("qdrant_volume")
def test_changed_sources_run_a_job_whose_version_goes_through_the_canary(
    cluster: LocalCluster, namespace: str, kube: KubeClient, start_operator: StartOperator
) -> None:
    docs = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "support-docs", "namespace": namespace}}
    apply(cluster, {**docs, "data": {"faq.md": "# Refunds\nRefunds take five days."}})
    start_operator("op-a")
    apply(cluster, example_guardrail(namespace))
    stable = wait_for("the Guardrail to become Healthy", lambda: healthy(kube, namespace), timeout=40)
    assert the_job(kube, namespace) is None, "no sources: the knowledge base is managed out of band"

    apply(cluster, with_sources(namespace, [{"configMap": "support-docs"}]))
    job = wait_for("the ingestion Job", lambda: the_job(kube, namespace))
    pod_spec = job["spec"]["template"]["spec"]
    args = pod_spec["containers"][0]["args"]
    assert args[:4] == ["guardrail", "kb", "ingest", "/kb/sources/0"]
    assert args[args.index("--collection") + 1] == "support-facts"
    assert args[args.index("--qdrant-url") + 1] == f"http://support-bot-qdrant.{namespace}.svc:6333"
    assert args[args.index("--summary-file") + 1] == "/dev/termination-log"
    assert pod_spec["volumes"][0]["configMap"]["name"] == "support-docs"

    name = job["metadata"]["name"]
    pod = wait_for("kwok to complete the Job's Pod", lambda: succeeded_pod(kube, namespace, name))
    message = json.dumps(RESULT)
    patch = [{"op": "add", "path": "/status/containerStatuses/0/state/terminated/message", "value": message}]
    cluster.kubectl(
        "-n", namespace, "patch", "pod", pod["metadata"]["name"], "--subresource=status", "--type=json",
        "-p", json.dumps(patch),
    )  # fmt: skip

    def canary() -> dict[str, Any] | None:
        status = guardrail_status(kube, namespace)
        return status if (status.get("canary") or {}).get("revision") else None

    status = wait_for("the new knowledge-base version to start a canary", canary)
    kb = status["knowledgeBase"]
    assert (kb["version"], kb["documents"], kb["chunks"], kb["quarantined"]) == (VERSION, 2, 5, 1)
    assert (kb["job"], kb["lastIngestionTime"]) == (name, "2026-01-01T00:00:00Z")
    assert status["stableRevision"] == stable["stableRevision"]
    revision = status["canary"]["revision"]
    assert revision != stable["stableRevision"]
    assert collection_of(kube, namespace, revision) == f"support-facts-{VERSION}"
    assert collection_of(kube, namespace, stable["stableRevision"]) == "support-facts"
    assert condition(status, "KnowledgeBaseReady")["status"] == "True"
    assert the_job(kube, namespace) is not None, "ingested sources start no further Job"


@pytest.mark.usefixtures("qdrant_volume")
def test_a_failed_ingestion_job_leaves_the_stable_revision_serving(
    cluster: LocalCluster, namespace: str, kube: KubeClient, start_operator: StartOperator
) -> None:
    start_operator("op-a")
    apply(cluster, with_sources(namespace, [{"pvc": "missing-claim", "path": "docs"}]))
    stable = wait_for("the Guardrail to become Healthy", lambda: healthy(kube, namespace), timeout=40)
    job = wait_for("the ingestion Job", lambda: the_job(kube, namespace))
    assert job["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "missing-claim"
    cluster.kubectl(
        "-n", namespace, "patch", "job", job["metadata"]["name"], "--type=merge",
        "-p", json.dumps({"spec": {"activeDeadlineSeconds": 1}}),
    )  # fmt: skip

    def kb_not_ready() -> dict[str, Any] | None:
        status = guardrail_status(kube, namespace)
        return status if condition(status, "KnowledgeBaseReady").get("status") == "False" else None

    status = wait_for("KnowledgeBaseReady=False", kb_not_ready)
    kb_ready = condition(status, "KnowledgeBaseReady")
    assert kb_ready["reason"] == "DeadlineExceeded"
    assert job["metadata"]["name"] in kb_ready["message"]
    assert status["stableRevision"] == stable["stableRevision"]
    assert "canary" not in status
    assert "knowledgeBase" not in status
    assert collection_of(kube, namespace, stable["stableRevision"]) == "support-facts"
