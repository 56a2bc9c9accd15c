"""Builders: golden YAML per scenario, plus the properties every child must have.

Regenerate the golden files after an intended change with `UPDATE_GOLDEN=1 pytest tests/unit/operator`,
then review the diff.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from guardrail_contract.guardrail import Guardrail
from guardrail_contract.names import fit
from guardrail_contract.sidecar_config import RevisionConfig, SidecarConfig
from guardrail_operator.builders import Revisions, revisions_of
from guardrail_operator.builders.event import build_event
from guardrail_operator.builders.qdrant import build_qdrant_api_key_secret
from support.children import first_children

MakeBody = Callable[..., dict[str, Any]]
GOLDEN = Path(__file__).parent / "golden"
FETCHER = "rclone/rclone:1.71.2"

SCENARIOS: dict[str, dict[str, Any]] = {
    "example": {},
    "external-qdrant-pvc": {
        "models": {"repository": {"pvc": {"claimName": "models", "subPath": "guardrails"}}},
        "knowledgeBase": {
            "qdrant": {"external": {"url": "http://qdrant.data:6333", "apiKeySecretRef": {"name": "qd", "key": "k"}}},
            "collection": "faq",
        },
        "triton": {
            "replicas": 2,
            "nodeSelector": {"nvidia.com/gpu.present": "true"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}},
        },
        "serviceAccountName": "support-bot",
    },
    "configmap-repo-no-kb": {
        "models": {"repository": {"configMap": {"name": "tiny-models"}}},
        "knowledgeBase": None,
        "policy": {"mode": "monitor", "threshold": 0.3, "softLimit": 0.3},
    },
}


class _GoldenDumper(yaml.SafeDumper):
    """Block style for multi-line strings (config files stay readable) and no anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_GoldenDumper.add_representer(str, _str)


def render(make_body: MakeBody, overrides: dict[str, Any]) -> tuple[Guardrail, Revisions, list[dict[str, Any]]]:
    body = make_body(**overrides)
    if overrides.get("knowledgeBase", {}) is None:
        del body["spec"]["knowledgeBase"]
    guardrail = Guardrail.model_validate(body)
    revisions = revisions_of(guardrail)
    return guardrail, revisions, first_children(guardrail, FETCHER)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_children_match_golden(scenario: str, make_body: MakeBody) -> None:
    _, _, children = render(make_body, SCENARIOS[scenario])
    text = yaml.dump_all(children, Dumper=_GoldenDumper, sort_keys=True, width=110)
    path = GOLDEN / f"{scenario}.yaml"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{path.name} differs; rerun with UPDATE_GOLDEN=1 if intended"


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_child_is_owned_labelled_and_namespaced(scenario: str, make_body: MakeBody) -> None:
    guardrail, _, children = render(make_body, SCENARIOS[scenario])
    for child in children:
        meta = child["metadata"]
        assert meta["namespace"] == "shop"
        (owner,) = meta["ownerReferences"]
        assert owner["uid"] == guardrail.metadata["uid"]
        assert owner["controller"] is True
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "guardrail-operator"
        assert meta["labels"]["guardrails.dev/guardrail"] == "support-bot"
        assert len(meta["name"]) <= 63


def by_kind(children: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [c for c in children if c["kind"] == kind]


def test_example_children_set(make_body: MakeBody) -> None:
    _, rev, children = render(make_body, {})
    assert sorted((c["kind"], c["metadata"]["name"]) for c in children) == sorted(
        [
            ("Role", "support-bot-reader"),
            ("RoleBinding", "support-bot-reader"),
            ("ConfigMap", f"support-bot-config-{rev.revision}"),
            ("NetworkPolicy", "support-bot-sidecar-only"),
            ("Service", "support-bot-qdrant"),
            ("StatefulSet", "support-bot-qdrant"),
            ("ConfigMap", f"support-bot-triton-{rev.model_revision}"),
            ("Service", f"support-bot-triton-{rev.model_revision}"),
            ("Deployment", f"support-bot-triton-{rev.model_revision}"),
        ]
    )


def test_triton_deployment_serves_the_revision_on_a_gpu(make_body: MakeBody) -> None:
    _, rev, children = render(make_body, SCENARIOS["external-qdrant-pvc"])
    (deployment,) = by_kind(children, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (triton,) = pod["containers"]
    assert deployment["spec"]["replicas"] == 2
    assert deployment["metadata"]["labels"]["guardrails.dev/model-revision"] == rev.model_revision
    assert "--model-control-mode=explicit" in triton["args"]
    assert {"--load-model=nli", "--load-model=embedding", "--load-model=injection"} <= set(triton["args"])
    # The spec's GPU limit, plus CPU/memory defaults where the spec sets none.
    assert triton["resources"] == {
        "limits": {"nvidia.com/gpu": "1", "memory": "4Gi"},
        "requests": {"cpu": "500m", "memory": "1Gi"},
    }
    assert triton["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert triton["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert "podAntiAffinity" in pod["affinity"]
    assert deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == "8002"
    (fetch,) = pod["initContainers"]
    assert "/source/guardrails/nli/1" in fetch["command"][2]


def test_triton_config_pbtxt_batches_on_the_gpu(make_body: MakeBody) -> None:
    _, _, children = render(make_body, {})
    config = next(c for c in by_kind(children, "ConfigMap") if "triton" in c["metadata"]["name"])
    nli = config["data"]["nli.pbtxt"]
    assert 'name: "nli"' in nli
    assert "dynamic_batching { max_queue_delay_microseconds: 2000 }" in nli
    assert "KIND_GPU" in nli
    assert "max_batch_size: 64" in nli


def test_batching_change_rolls_triton_pods(make_body: MakeBody) -> None:
    _, _, before = render(make_body, {})
    _, _, after = render(make_body, {"triton": {"maxBatchSize": 8}})
    (d1,), (d2,) = by_kind(before, "Deployment"), by_kind(after, "Deployment")
    assert d1["metadata"]["name"] == d2["metadata"]["name"]
    key = "guardrails.dev/config-checksum"
    assert (
        d1["spec"]["template"]["metadata"]["annotations"][key] != d2["spec"]["template"]["metadata"]["annotations"][key]
    )


def test_revision_configmap_is_a_valid_sidecar_config(make_body: MakeBody) -> None:
    _, rev, children = render(make_body, SCENARIOS["external-qdrant-pvc"])
    config = next(c for c in by_kind(children, "ConfigMap") if "config" in c["metadata"]["name"])
    revision = RevisionConfig.model_validate(yaml.safe_load(config["data"]["revision.yaml"]))
    sidecar = SidecarConfig.from_yaml(config["data"]["sidecar.yaml"])
    assert revision.revision == rev.revision == sidecar.routing.stable.revision
    assert revision.models.triton is not None
    assert revision.models.triton.url == f"support-bot-triton-{rev.model_revision}.shop.svc:8001"
    assert revision.knowledge_base is not None
    assert revision.knowledge_base.qdrant.url == "http://qdrant.data:6333"
    assert revision.knowledge_base.qdrant.api_key_env == "GUARDRAIL_QDRANT_API_KEY"
    assert "apiKey" not in config["data"]["revision.yaml"].replace("apiKeyEnv", "")
    assert sidecar.watch is not None
    assert sidecar.watch.name == "support-bot"


def test_rbac_grants_read_of_this_guardrail_and_its_config_only(make_body: MakeBody) -> None:
    _, rev, children = render(make_body, SCENARIOS["external-qdrant-pvc"])
    (role,) = by_kind(children, "Role")
    (binding,) = by_kind(children, "RoleBinding")
    rules = {tuple(r["resources"]): r for r in role["rules"]}
    assert rules[("guardrails",)]["resourceNames"] == ["support-bot"]
    assert rules[("configmaps",)]["resourceNames"] == [f"support-bot-config-{rev.revision}"]
    assert all(set(r["verbs"]) == {"get", "list", "watch"} for r in role["rules"])
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "support-bot", "namespace": "shop"}]


def test_managed_qdrant_uses_secret_for_api_key_and_claims_storage(make_body: MakeBody) -> None:
    _, _, children = render(
        make_body,
        {
            "knowledgeBase": {
                "qdrant": {"managed": {"storage": "5Gi", "apiKeySecretRef": {"name": "qd", "key": "k"}}},
                "collection": "c",
            }
        },
    )
    (sts,) = by_kind(children, "StatefulSet")
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["QDRANT__SERVICE__API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "qd", "key": "k"}
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "5Gi"
    (svc,) = [s for s in by_kind(children, "Service") if "qdrant" in s["metadata"]["name"]]
    assert svc["spec"]["clusterIP"] == "None"


def test_long_names_are_shortened_uniquely() -> None:
    a, b = fit("x" * 70 + "-a"), fit("x" * 70 + "-b")
    assert len(a) <= 63
    assert len(b) <= 63
    assert a != b


def test_event_names_the_guardrail() -> None:
    event = build_event(
        "shop",
        "support-bot",
        "uid-1",
        "Warning",
        "TritonNotReady",
        "0/1 ready",
        "2026-01-01T00:00:00Z",
        "op-0",
    )
    assert event["involvedObject"]["kind"] == "Guardrail"
    assert event["involvedObject"]["uid"] == "uid-1"
    assert (event["type"], event["reason"]) == ("Warning", "TritonNotReady")


def test_the_network_policy_admits_only_the_sidecar_ports_of_the_selected_pods(make_body: MakeBody) -> None:
    selector = {"matchLabels": {"app": "bot"}, "matchExpressions": [{"key": "tier", "operator": "Exists"}]}
    _, _, children = render(make_body, {"selector": selector, "proxy": {"listenPort": 8100, "upstreamPort": 8080}})
    (policy,) = by_kind(children, "NetworkPolicy")
    assert policy["spec"]["podSelector"] == {
        "matchLabels": {"app": "bot"},
        "matchExpressions": [{"key": "tier", "operator": "Exists"}],
    }
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    assert "from" not in rule  # any client may reach the sidecar ...
    ports = [p["port"] for p in rule["ports"]]
    assert ports == [8100, 9901]  # ... but only the sidecar: the app's 8080 is not listed
    assert 8080 not in ports


def test_the_network_policy_can_be_turned_off(make_body: MakeBody) -> None:
    _, _, children = render(make_body, {"networkPolicy": {"enabled": False}})
    assert by_kind(children, "NetworkPolicy") == []


def test_a_managed_qdrant_without_a_key_reference_uses_the_generated_secret(make_body: MakeBody) -> None:
    guardrail, _, children = render(make_body, {})
    (sts,) = by_kind(children, "StatefulSet")
    env = {e["name"]: e for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
    ref = {"name": "support-bot-qdrant-api-key", "key": "api-key"}
    assert env["QDRANT__SERVICE__API_KEY"]["valueFrom"]["secretKeyRef"] == ref
    (configmap,) = [c for c in by_kind(children, "ConfigMap") if "-config-" in c["metadata"]["name"]]
    revision = RevisionConfig.model_validate(yaml.safe_load(configmap["data"]["revision.yaml"]))
    assert revision.knowledge_base is not None
    assert revision.knowledge_base.qdrant.api_key_env == "GUARDRAIL_QDRANT_API_KEY"
    assert "Secret" not in {c["kind"] for c in children}, "the Secret is created once by the reconciler"

    secret = build_qdrant_api_key_secret(guardrail, "s3cr3t")
    assert secret["metadata"]["name"] == "support-bot-qdrant-api-key"
    assert secret["stringData"] == {"api-key": "s3cr3t"}
    assert secret["metadata"]["ownerReferences"][0]["uid"] == guardrail.metadata["uid"]

    unauthenticated = {"qdrant": {"managed": {"generateApiKey": False}}, "collection": "c"}
    _, _, children = render(make_body, {"knowledgeBase": unauthenticated})
    (sts,) = by_kind(children, "StatefulSet")
    names = {e["name"] for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "QDRANT__SERVICE__API_KEY" not in names


@pytest.mark.parametrize("kind", ["StatefulSet", "Deployment"])
def test_managed_qdrant_and_triton_pods_run_restricted_with_resources(make_body: MakeBody, kind: str) -> None:
    _, _, children = render(make_body, {})
    (workload,) = by_kind(children, kind)
    pod = workload["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["securityContext"]["runAsUser"] != 0
    mounted = set()
    for container in pod["containers"] + pod.get("initContainers", []):
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["readOnlyRootFilesystem"] is True
        assert container["resources"]["requests"]["memory"]
        assert container["resources"]["limits"]["memory"]
        mounted |= {m["mountPath"] for m in container["volumeMounts"]}
    assert "/tmp" in mounted  # scratch space, since the root filesystem is read-only
