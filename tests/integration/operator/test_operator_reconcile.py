"""The operator against the real control plane: children, readiness, drift, no-op, failures, deletion."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from guardrail_devcluster.cluster import LocalCluster, free_port
from guardrail_operator.clients.k8s import KubeClient
from tests.integration.operator.helpers import (
    RESYNC_SECONDS,
    OperatorProcess,
    apply,
    children,
    condition,
    example_guardrail,
    guardrail_status,
    healthy,
    operator_writes_in_audit,
    resource_versions,
    wait_for,
)

pytestmark = pytest.mark.integration
StartOperator = Callable[[str], OperatorProcess]


@pytest.mark.usefixtures("qdrant_volume")
def test_example_guardrail_becomes_healthy_repairs_drift_and_idles_without_writes(
    cluster: LocalCluster, namespace: str, kube: KubeClient, start_operator: StartOperator
) -> None:
    op = start_operator("op-a")
    apply(cluster, example_guardrail(namespace))
    status = wait_for("the example Guardrail to become Healthy", lambda: healthy(kube, namespace), timeout=40)

    revision = status["stableRevision"]
    found = children(kube, namespace)
    triton = next(name for kind, name in found if kind == "Deployment")
    assert sorted(found) == sorted(
        [
            ("Role", "support-bot-reader"),
            ("RoleBinding", "support-bot-reader"),
            ("ConfigMap", f"support-bot-config-{revision}"),
            ("NetworkPolicy", "support-bot-sidecar-only"),  # accepted by the real API server
            ("Service", "support-bot-qdrant"),
            ("StatefulSet", "support-bot-qdrant"),
            ("ConfigMap", triton),
            ("Service", triton),
            ("Deployment", triton),
        ]
    )
    assert {condition(status, c)["status"] for c in ("Ready", "TritonReady", "KnowledgeBaseReady")} == {"True"}
    policy = found[("NetworkPolicy", "support-bot-sidecar-only")]["spec"]
    assert policy["podSelector"] == {"matchLabels": {"app": "support-bot"}}
    assert [p["port"] for p in policy["ingress"][0]["ports"]] == [8000, 9901]  # not the app's 8080
    events = cluster.kubectl(
        "-n", namespace, "get", "events", "--field-selector", "involvedObject.kind=Guardrail"
    ).stdout
    assert "GuardrailReady" in events

    # A no-op: several drift-timer rounds send no write at all.
    time.sleep(0.5)  # let the last watch events (kwok readiness) settle
    versions, writes, since = resource_versions(kube, namespace), op.writes(), time.time()
    time.sleep(RESYNC_SECONDS * 2.5)
    assert resource_versions(kube, namespace) == versions
    assert op.writes() == writes
    assert operator_writes_in_audit(cluster, namespace, since) == []

    # Deleting a child Deployment and editing another by hand are both repaired.
    cluster.kubectl("-n", namespace, "delete", "deployment", triton, "--wait=false")
    cluster.kubectl(
        "-n", namespace, "patch", "configmap", f"support-bot-config-{revision}", "--type=merge",
        "-p", '{"data": {"revision.yaml": "tampered"}}',
    )  # fmt: skip
    started = time.monotonic()
    wait_for("the Deployment to be recreated", lambda: ("Deployment", triton) in children(kube, namespace))
    wait_for(
        "the ConfigMap edit to be reverted",
        lambda: (
            children(kube, namespace)[("ConfigMap", f"support-bot-config-{revision}")]["data"]["revision.yaml"]
            != "tampered"
        ),
        timeout=RESYNC_SECONDS * 4,  # one timer round plus slack for a loaded machine
    )
    assert time.monotonic() - started <= RESYNC_SECONDS * 4
    wait_for("Healthy again", lambda: healthy(kube, namespace), timeout=30)

    # Deleting the Guardrail removes every child (garbage collection through owner references).
    cluster.kubectl("-n", namespace, "delete", "guardrail", "support-bot", "--wait=true", "--timeout=30s")
    # The garbage collector needs up to ~60 s to start watching a CRD it has just discovered.
    wait_for("all children to be garbage-collected", lambda: not children(kube, namespace), timeout=90)


def test_triton_that_never_becomes_ready_is_reported_not_crashed(
    cluster: LocalCluster, namespace: str, kube: KubeClient, start_operator: StartOperator
) -> None:
    op = start_operator("op-a")
    body = example_guardrail(namespace, triton={"nodeSelector": {"example.com/no-such-node": "true"}})
    del body["spec"]["knowledgeBase"]
    apply(cluster, body)

    def triton_not_ready() -> dict[str, str] | None:
        ready = condition(guardrail_status(kube, namespace), "Ready")
        return ready if ready.get("reason") == "TritonNotReady" else None

    ready = wait_for("Ready=False naming Triton", triton_not_ready)
    assert ready["status"] == "False"
    assert "Triton" in ready["message"]
    time.sleep(RESYNC_SECONDS * 1.5)
    status = guardrail_status(kube, namespace)
    assert status["phase"] == "Pending"
    assert condition(status, "TritonReady")["reason"] == "TritonPodsNotReady"
    assert op.proc.poll() is None
    assert op.is_leader()


def test_unreachable_external_qdrant_is_knowledge_base_not_ready(
    cluster: LocalCluster, namespace: str, kube: KubeClient, start_operator: StartOperator
) -> None:
    start_operator("op-a")
    closed = f"http://127.0.0.1:{free_port()}"
    apply(
        cluster,
        example_guardrail(namespace, knowledgeBase={"qdrant": {"external": {"url": closed}}, "collection": "faq"}),
    )

    def kb_condition() -> dict[str, str] | None:
        kb = condition(guardrail_status(kube, namespace), "KnowledgeBaseReady")
        return kb or None

    kb = wait_for("KnowledgeBaseReady to be reported", kb_condition)
    assert (kb["status"], kb["reason"]) == ("False", "ExternalQdrantUnreachable")
    assert closed in kb["message"]
    status = wait_for("Triton to be ready", lambda: (s := guardrail_status(kube, namespace)) and
                      condition(s, "TritonReady").get("status") == "True" and s)  # fmt: skip
    assert condition(status, "Ready")["reason"] == "KnowledgeBaseNotReady"
    assert not any(kind == "StatefulSet" for kind, _ in children(kube, namespace))
