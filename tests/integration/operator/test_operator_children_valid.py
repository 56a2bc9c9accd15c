"""Everything the builders render is accepted by the real API server as it is, and every pod the operator runs
(Qdrant, Triton, the ingestion Job) is admitted by a namespace enforcing the restricted Pod Security Standard."""

from __future__ import annotations

import json
from typing import Any

import pytest

from guardrail_contract.guardrail import Guardrail
from guardrail_devcluster.cluster import LocalCluster
from guardrail_operator.builders import revisions_of
from guardrail_operator.builders.qdrant import build_qdrant_api_key_secret
from guardrail_operator.kb.job import build_kb_ingest_job
from support.children import first_children
from tests.integration.operator.helpers import example_guardrail

pytestmark = pytest.mark.integration

SPECS: dict[str, dict[str, Any]] = {
    "example": {},
    "set-based-selector": {
        "selector": {
            "matchLabels": {"app": "support-bot"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["web", "api"]},
                {"key": "canary", "operator": "DoesNotExist"},
            ],
        },
    },
    "kb-sources": {
        "knowledgeBase": {
            "qdrant": {"managed": {"storage": "1Gi"}},
            "collection": "support-facts",
            "sources": [{"configMap": "faq"}, {"pvc": "docs", "path": "en"}, {"uri": "s3://kb/support/"}],
        },
    },
}


def _manifests(namespace: str, spec: dict[str, Any]) -> list[dict[str, Any]]:
    body = example_guardrail(namespace, **spec)
    body["metadata"]["uid"] = "0a1b2c3d-0000-4000-8000-000000000001"
    guardrail = Guardrail.model_validate(body)
    revisions = revisions_of(guardrail)
    out = first_children(guardrail, "rclone/rclone:1.71.2")
    out.append(build_qdrant_api_key_secret(guardrail, "not-a-real-key"))
    if guardrail.spec.knowledge_base and guardrail.spec.knowledge_base.sources:
        out.append(
            build_kb_ingest_job(
                guardrail,
                image="ghcr.io/guardrails-dev/guardrail-sidecar:0.1.0",
                model_rev=revisions.model_revision,
                digest="0123456789",
                fetcher_image="rclone/rclone:1.71.2",
            )
        )
    for manifest in out:  # a dry run cannot resolve an owner that does not exist; the rest is as applied
        manifest["metadata"].pop("ownerReferences", None)
    return out


def _pods(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pod template of every workload, as the Pod its controller would create."""
    pods = []
    for m in manifests:
        if m["kind"] in ("Deployment", "StatefulSet", "Job"):
            template = m["spec"]["template"]
            name = f"{m['kind'].lower()}-{m['metadata']['name']}"[:63]
            meta = {"name": name, "namespace": m["metadata"]["namespace"], "labels": template["metadata"]["labels"]}
            spec = dict(template["spec"])
            claims = m["spec"].get("volumeClaimTemplates", [])  # the StatefulSet controller adds these volumes
            claimed = [{"name": c["metadata"]["name"], "persistentVolumeClaim": {"claimName": name}} for c in claims]
            spec["volumes"] = [*spec.get("volumes", []), *claimed]
            pods.append({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
    return pods


@pytest.mark.parametrize("scenario", sorted(SPECS))
def test_every_child_passes_strict_server_side_validation(cluster: LocalCluster, namespace: str, scenario: str) -> None:
    manifests = _manifests(namespace, SPECS[scenario])
    assert "NetworkPolicy" in {m["kind"] for m in manifests}
    result = cluster.kubectl(
        "apply", "--server-side", "--dry-run=server", "--validate=strict", "--field-manager=test", "-f", "-",
        input="\n".join(json.dumps(m) for m in manifests),
    )  # fmt: skip
    assert result.stdout.count("serverside-applied (server dry run)") == len(manifests), result.stdout
    assert "Warning" not in result.stderr, result.stderr


@pytest.mark.parametrize("scenario", sorted(SPECS))
def test_every_managed_pod_is_admitted_under_the_restricted_pod_security_standard(
    cluster: LocalCluster, namespace: str, scenario: str
) -> None:
    cluster.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    pods = _pods(_manifests(namespace, SPECS[scenario]))
    assert len(pods) >= 2
    for pod in pods:
        result = cluster.kubectl("create", "--dry-run=server", "-f", "-", check=False, input=json.dumps(pod))
        assert result.returncode == 0, f"{pod['metadata']['name']}: {result.stderr}"
        assert "Warning" not in result.stderr, result.stderr
    # The namespace does enforce it: the first pod with one capability kept is refused.
    loose = json.loads(json.dumps(pods[0]))
    del loose["spec"]["containers"][0]["securityContext"]["capabilities"]
    refused = cluster.kubectl("create", "--dry-run=server", "-f", "-", check=False, input=json.dumps(loose))
    assert refused.returncode != 0
    assert "violates PodSecurity" in refused.stderr
