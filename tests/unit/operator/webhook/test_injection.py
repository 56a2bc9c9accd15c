"""Sidecar injection decisions and the Pod they produce (pure, no cluster)."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import pytest

from guardrail_contract.guardrail import Guardrail, LabelSelector
from guardrail_operator.reconcile.revision import guardrail_revision
from guardrail_operator.webhook.injection import (
    ADMIN_PORT,
    CONFIG_VOLUME,
    GUARDRAIL_LABEL,
    INJECTED_ANNOTATION,
    SIDECAR_NAME,
    SidecarSettings,
    Target,
    inject,
    json_patch,
    selector_matches,
)

SETTINGS = SidecarSettings(image="registry.local/guardrail-sidecar:1.2.3")


def guardrail(name: str = "support-bot", stable: str = "", **overrides: Any) -> Guardrail:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "support-bot"}},
        "models": {"repository": {"uri": "s3://models/guardrails"}},
        "proxy": {"listenPort": 8000, "upstreamPort": 8080},
    }
    spec.update(overrides)
    return Guardrail.model_validate(
        {"metadata": {"name": name, "namespace": "shop"}, "spec": spec, "status": {"stableRevision": stable}}
    )


def target(name: str = "support-bot", **overrides: Any) -> Target:
    return Target.from_guardrail(guardrail(name, **overrides))


def pod(labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "app",
            "namespace": "shop",
            "labels": {"app": "support-bot"} if labels is None else labels,
            "annotations": annotations or {},
        },
        "spec": {
            "containers": [{"name": "app", "image": "app:1", "ports": [{"containerPort": 8080}]}],
            "volumes": [{"name": "data", "emptyDir": {}}],
        },
    }


def sidecar_of(p: dict[str, Any]) -> dict[str, Any]:
    every = p["spec"].get("initContainers", []) + p["spec"]["containers"]
    found: list[dict[str, Any]] = [c for c in every if c["name"] == SIDECAR_NAME]
    assert len(found) == 1
    return found[0]


def test_a_selected_pod_gets_the_sidecar_config_volume_and_port() -> None:
    decision = inject(pod(), [target()], SETTINGS)

    assert decision.pod is not None
    assert decision.guardrail == "support-bot"
    sidecar = sidecar_of(decision.pod)
    assert sidecar["image"] == "registry.local/guardrail-sidecar:1.2.3"
    ports = {p["name"]: p["containerPort"] for p in sidecar["ports"]}
    assert ports == {"guardrail": 8000, "guardrail-admin": ADMIN_PORT}
    assert {"name": "GUARDRAIL_CONFIG", "value": "/etc/guardrail/sidecar.yaml"} in sidecar["env"]
    assert sidecar["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "guardrail-admin"}
    assert sidecar["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "guardrail-admin"}
    volumes = {v["name"]: v for v in decision.pod["spec"]["volumes"]}
    current = guardrail_revision(guardrail().spec)
    assert volumes[CONFIG_VOLUME]["configMap"]["name"] == f"support-bot-config-{current}"
    assert "data" in volumes, "the app's own volumes are kept"
    assert decision.pod["metadata"]["annotations"][INJECTED_ANNOTATION] == "support-bot"
    assert decision.pod["metadata"]["labels"][GUARDRAIL_LABEL] == "support-bot"


def test_the_config_is_the_stable_revisions_once_there_is_one() -> None:
    decision = inject(pod(), [Target.from_guardrail(guardrail(stable="5d8f0c1"))], SETTINGS)
    assert decision.pod is not None
    volumes = {v["name"]: v for v in decision.pod["spec"]["volumes"]}
    assert volumes[CONFIG_VOLUME]["configMap"]["name"] == "support-bot-config-5d8f0c1"


def test_the_qdrant_api_key_comes_from_the_referenced_secret() -> None:
    kb = {"qdrant": {"external": {"url": "http://q:6333", "apiKeySecretRef": {"name": "qd", "key": "k"}}},
          "collection": "facts"}  # fmt: skip
    decision = inject(pod(), [target(knowledgeBase=kb)], SETTINGS)
    assert decision.pod is not None
    env = {e["name"]: e for e in sidecar_of(decision.pod)["env"]}
    assert env["GUARDRAIL_QDRANT_API_KEY"]["valueFrom"] == {"secretKeyRef": {"name": "qd", "key": "k"}}


def test_a_service_account_the_guardrail_does_not_grant_is_warned_about() -> None:
    p = pod()
    p["spec"]["serviceAccountName"] = "bot-sa"
    decision = inject(p, [target()], SETTINGS)
    assert decision.pod is not None
    assert any("bot-sa" in w and "spec.serviceAccountName" in w for w in decision.warnings)


def test_the_sidecar_meets_the_restricted_pod_security_standard() -> None:
    decision = inject(pod(), [target()], SETTINGS)
    assert decision.pod is not None
    sc = sidecar_of(decision.pod)["securityContext"]

    assert sc["runAsNonRoot"] is True
    assert sc["runAsUser"] > 0
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}


def test_resources_come_from_the_settings() -> None:
    settings = SidecarSettings(resources={"requests": {"cpu": "50m"}, "limits": {"memory": "256Mi"}})
    decision = inject(pod(), [target()], settings)
    assert decision.pod is not None
    resources = sidecar_of(decision.pod)["resources"]
    assert resources == {"requests": {"cpu": "50m"}, "limits": {"memory": "256Mi"}}


def test_native_sidecar_is_an_always_restarting_init_container_and_classic_is_a_container() -> None:
    native = inject(pod(), [target()], SidecarSettings(native=True)).pod
    classic = inject(pod(), [target()], SidecarSettings(native=False)).pod
    assert native is not None
    assert classic is not None

    assert [c["name"] for c in native["spec"]["initContainers"]] == [SIDECAR_NAME]
    assert native["spec"]["initContainers"][0]["restartPolicy"] == "Always"
    assert [c["name"] for c in native["spec"]["containers"]] == ["app"]
    assert [c["name"] for c in classic["spec"]["containers"]] == ["app", SIDECAR_NAME]
    assert "restartPolicy" not in classic["spec"]["containers"][1]


def test_injecting_twice_changes_nothing() -> None:
    first = inject(pod(), [target()], SETTINGS).pod
    assert first is not None
    second = inject(first, [target()], SETTINGS)

    assert second.pod is None
    assert second.reason == "sidecar already injected"


@pytest.mark.parametrize("value", ["false", "False", "FALSE"])
def test_the_opt_out_annotation_skips_the_pod(value: str) -> None:
    decision = inject(pod(annotations={"guardrails.dev/inject": value}), [target()], SETTINGS)
    assert decision.pod is None
    assert "opted out" in decision.reason


def test_pods_no_guardrail_selects_are_left_alone() -> None:
    decision = inject(pod(labels={"app": "other"}), [target()], SETTINGS)
    assert decision.pod is None
    assert decision.reason == "no Guardrail selects this pod"


def test_the_input_pod_is_not_mutated() -> None:
    original = pod()
    snapshot = copy.deepcopy(original)
    inject(original, [target()], SETTINGS)
    assert original == snapshot


@pytest.mark.parametrize("app_port", [8000, ADMIN_PORT])
def test_a_port_clash_skips_injection_with_a_warning_naming_the_field(app_port: int) -> None:
    p = pod()
    p["spec"]["containers"][0]["ports"] = [{"containerPort": app_port}]
    decision = inject(p, [target()], SETTINGS)
    assert decision.pod is None
    assert any("spec.proxy.listenPort" in w and str(app_port) in w for w in decision.warnings)


def test_several_matching_guardrails_pick_the_first_by_name_and_warn() -> None:
    decision = inject(pod(), [target("zeta"), target("alpha")], SETTINGS)
    assert decision.guardrail == "alpha"
    assert any("zeta" in w and "alpha" in w for w in decision.warnings)


def test_the_json_patch_applied_to_the_pod_yields_the_injected_pod() -> None:
    before = pod()
    after = inject(before, [target()], SETTINGS).pod
    assert after is not None
    ops = json_patch(before, after)
    assert all(op["path"].startswith(("/metadata/", "/spec/")) for op in ops)
    assert jsonpatch.apply_patch(before, ops) == after


def test_a_pod_without_labels_or_annotations_gets_them_created() -> None:
    bare = {"metadata": {"name": "x"}, "spec": {"containers": [{"name": "app", "image": "a"}]}}
    selector = LabelSelector.model_validate({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]})
    t = Target(name="g", selector=selector, listen_port=8000, config_map="g-cm")
    out = inject(bare, [t], SETTINGS).pod
    assert out is not None
    assert out["metadata"]["labels"] == {GUARDRAIL_LABEL: "g"}


def expr(key: str, operator: str, *values: str) -> dict[str, Any]:
    return {"matchExpressions": [{"key": key, "operator": operator, "values": list(values)}]}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ({"matchLabels": {"app": "a"}}, {"app": "a", "tier": "x"}, True),
        ({"matchLabels": {"app": "a"}}, {"app": "b"}, False),
        (expr("tier", "In", "web", "api"), {"tier": "api"}, True),
        (expr("tier", "In", "web"), {}, False),
        (expr("tier", "NotIn", "web"), {}, True),
        (expr("tier", "NotIn", "web"), {"tier": "web"}, False),
        (expr("canary", "Exists"), {"canary": ""}, True),
        (expr("canary", "DoesNotExist"), {"canary": "1"}, False),
        ({"matchLabels": {"app": "a"}, **expr("x", "Exists")}, {"app": "a"}, False),
    ],
)
def test_label_selector_semantics(selector: dict[str, Any], labels: dict[str, str], expected: bool) -> None:
    assert selector_matches(LabelSelector.model_validate(selector), labels) is expected


def test_an_empty_selector_matches_nothing_even_if_it_slipped_past_validation() -> None:
    assert selector_matches(LabelSelector.model_construct(), {"app": "a"}) is False


def test_a_managed_qdrant_gives_the_sidecar_its_generated_key_by_reference() -> None:
    kb = {"qdrant": {"managed": {}}, "collection": "facts"}
    decision = inject(pod(), [target(knowledgeBase=kb)], SETTINGS)
    assert decision.pod is not None
    env = {e["name"]: e for e in sidecar_of(decision.pod)["env"]}
    ref = {"secretKeyRef": {"name": "support-bot-qdrant-api-key", "key": "api-key"}}
    assert env["GUARDRAIL_QDRANT_API_KEY"]["valueFrom"] == ref
    assert "value" not in env["GUARDRAIL_QDRANT_API_KEY"]


def test_a_liveness_probe_restarts_a_wedged_sidecar_without_racing_its_start() -> None:
    decision = inject(pod(), [target()], SETTINGS)
    assert decision.pod is not None
    probe = sidecar_of(decision.pod)["livenessProbe"]
    assert probe["httpGet"]["path"] == "/healthz"
    # At least a minute of failures before a restart: a loaded node or a model load never trips it.
    assert probe["periodSeconds"] * probe["failureThreshold"] >= 60


# Strict namespaces (guardrails.dev/allow-opt-out=false): a selected pod gets its sidecar or is refused.


def test_strict_namespaces_ignore_the_opt_out_annotation_and_say_so() -> None:
    decision = inject(pod(annotations={"guardrails.dev/inject": "false"}), [target()], SETTINGS, allow_opt_out=False)
    assert decision.pod is not None
    assert sidecar_of(decision.pod)["image"] == SETTINGS.image
    assert any("ignored" in w and "allow-opt-out" in w for w in decision.warnings)


def test_strict_namespaces_do_not_trust_the_injected_annotation_alone() -> None:
    faked = pod(annotations={INJECTED_ANNOTATION: "support-bot"})
    assert inject(faked, [target()], SETTINGS).pod is None  # the lenient path trusts it
    strict = inject(faked, [target()], SETTINGS, allow_opt_out=False)
    assert strict.pod is not None
    assert sidecar_of(strict.pod)["image"] == SETTINGS.image


def test_strict_namespaces_refuse_a_look_alike_sidecar() -> None:
    fake = pod()
    fake["spec"]["containers"].append({"name": SIDECAR_NAME, "image": SETTINGS.image, "command": ["sleep", "inf"]})
    decision = inject(fake, [target()], SETTINGS, allow_opt_out=False)
    assert decision.pod is None
    assert decision.denied is True
    assert SIDECAR_NAME in decision.reason


def test_strict_namespaces_accept_their_own_sidecar_on_reinvocation() -> None:
    first = inject(pod(), [target()], SETTINGS, allow_opt_out=False).pod
    assert first is not None
    # The API server defaults some fields and mounts the service account token into every container before
    # calling again; that does not make it a look-alike.
    sidecar_of(first)["terminationMessagePath"] = "/dev/termination-log"
    token = {"name": "kube-api-access-x", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}
    sidecar_of(first)["volumeMounts"].append(token)
    again = inject(first, [target()], SETTINGS, allow_opt_out=False)
    assert again.pod is None
    assert again.denied is False
    assert again.reason == "sidecar already injected"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("command", ["sleep", "inf"]),
        ("args", ["--config", "/tmp/open.yaml"]),
        ("envFrom", [{"configMapRef": {"name": "x"}}]),
    ],
)
def test_strict_namespaces_refuse_an_exact_copy_with_a_behaviour_of_its_own(field: str, value: Any) -> None:
    first = inject(pod(), [target()], SETTINGS, allow_opt_out=False).pod
    assert first is not None
    sidecar_of(first)[field] = value
    assert inject(first, [target()], SETTINGS, allow_opt_out=False).denied is True


def test_strict_namespaces_refuse_a_sidecar_with_a_mount_over_its_config() -> None:
    first = inject(pod(), [target()], SETTINGS, allow_opt_out=False).pod
    assert first is not None
    shadow = {"name": "data", "mountPath": "/etc/guardrail/sidecar.yaml", "subPath": "permissive.yaml"}
    sidecar_of(first)["volumeMounts"].append(shadow)
    decision = inject(first, [target()], SETTINGS, allow_opt_out=False)
    assert decision.denied is True


@pytest.mark.parametrize("app_port", [8000, ADMIN_PORT])
def test_strict_namespaces_refuse_a_pod_whose_ports_block_the_sidecar(app_port: int) -> None:
    p = pod()
    p["spec"]["containers"][0]["ports"] = [{"containerPort": app_port}]
    lenient = inject(p, [target()], SETTINGS)
    strict = inject(p, [target()], SETTINGS, allow_opt_out=False)
    assert (lenient.pod, lenient.denied) == (None, False)
    assert (strict.pod, strict.denied) == (None, True)
    assert str(app_port) in strict.reason


def test_strict_namespaces_leave_unselected_pods_alone() -> None:
    decision = inject(pod(labels={"app": "other"}), [target()], SETTINGS, allow_opt_out=False)
    assert (decision.pod, decision.denied) == (None, False)
