"""What `helm template` produces for the values a user sets (the chart read as sentences)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import subprocess
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from guardrail_operator import settings as settings_module
from guardrail_operator.clients.k8s import KINDS
from guardrail_operator.controller.metrics import Metrics as OperatorMetrics
from guardrail_operator.settings import Settings, WebhookConfig
from guardrail_operator.webhook.admission import STRICT_WEBHOOK_ID, WEBHOOK_ID
from guardrail_operator.webhook.injection import ALLOW_OPT_OUT_LABEL, SidecarSettings
from guardrail_sidecar.observability.metrics import Metrics as SidecarMetrics
from tests.unit.chart.render import CHART, NAMESPACE, RenderError, helm, kinds, one, render

pytestmark = pytest.mark.integration  # runs the helm binary


def pod_specs(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m["spec"]["template"]["spec"] for m in manifests if m["kind"] in ("Deployment", "StatefulSet", "Job")]


def test_a_default_install_renders_the_crd_operator_webhook_rbac_and_dashboard() -> None:
    assert kinds(render()) == sorted(
        [
            "ClusterRole", "ClusterRoleBinding", "ConfigMap", "ConfigMap", "CustomResourceDefinition", "Deployment",
            "MutatingWebhookConfiguration", "NetworkPolicy", "PodDisruptionBudget", "Role", "RoleBinding", "Secret",
            "Service", "Service", "ServiceAccount",
        ]
    )  # fmt: skip


def test_the_operator_runs_two_replicas_that_never_all_go_down() -> None:
    manifests = render()
    deployment = one(manifests, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert one(manifests, "PodDisruptionBudget")["spec"]["minAvailable"] == 1


def test_every_pod_meets_the_restricted_pod_security_standard() -> None:
    for spec in pod_specs(render({"webhook.tls.certManager.enabled": True})):
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in spec["containers"] + spec.get("initContainers", []):
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert sc["readOnlyRootFilesystem"] is True
            assert container["resources"]["limits"]
        assert not spec.get("hostNetwork")
        assert not spec.get("hostPID")
        assert all("hostPath" not in v for v in spec.get("volumes", []))


def test_the_settings_the_chart_sets_are_the_ones_the_operator_reads() -> None:
    data = one(render({"operator.watchNamespaces": ["shop", "bank"]}), "ConfigMap", "-settings")["data"]
    documented = (settings_module.__doc__ or "") + (WebhookConfig.__doc__ or "")
    assert [key for key in data if f"{key} " not in documented and f"`{key}`" not in documented] == []

    settings = Settings.from_env(data)
    webhook = WebhookConfig.from_env(data)
    assert settings.watch_namespaces == ("shop", "bank")
    assert settings.leader_election is True
    assert settings.lease_name == "gr-guardrail-operator"
    assert webhook.enabled is True
    assert webhook.cert_dir == "/etc/guardrail/webhook-tls"
    assert webhook.sidecar.image == "ghcr.io/guardrails-dev/guardrail-sidecar:0.1.0"
    assert webhook.sidecar.resources["limits"]["memory"] == "768Mi"
    assert webhook.sidecar.resources == SidecarSettings().resources, "the chart and the operator agree"


def test_changing_a_setting_rolls_the_operator_pods() -> None:
    def checksum(values: dict[str, Any]) -> str:
        annotations = one(render(values), "Deployment")["spec"]["template"]["metadata"]["annotations"]
        return str(annotations["checksum/settings"])

    assert checksum({}) != checksum({"sidecar.image.tag": "0.2.0"})


def test_the_webhook_skips_system_and_release_namespaces_and_needs_the_opt_in_label() -> None:
    webhook = one(render(), "MutatingWebhookConfiguration")["webhooks"][0]
    expressions = {e["key"]: e for e in webhook["namespaceSelector"]["matchExpressions"]}

    assert expressions["guardrails.dev/injection"] == {
        "key": "guardrails.dev/injection", "operator": "In", "values": ["enabled"]
    }  # fmt: skip
    excluded = expressions["kubernetes.io/metadata.name"]
    assert excluded["operator"] == "NotIn"
    assert {"kube-system", NAMESPACE} <= set(excluded["values"])
    assert webhook["rules"] == [
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "resources": ["pods"],
            "operations": ["CREATE"],
            "scope": "Namespaced",
        }
    ]
    assert webhook["clientConfig"]["service"]["path"] == f"/{WEBHOOK_ID}"
    assert webhook["sideEffects"] == "None"


def test_failure_policy_and_timeout_are_values() -> None:
    default = one(render(), "MutatingWebhookConfiguration")["webhooks"][0]
    strict = one(
        render({"webhook.failurePolicy": "Fail", "webhook.timeoutSeconds": 3}), "MutatingWebhookConfiguration"
    )["webhooks"][0]
    lenient = one(render({"webhook.failurePolicy": "Ignore"}), "MutatingWebhookConfiguration")["webhooks"][0]
    assert (default["failurePolicy"], default["timeoutSeconds"]) == ("Fail", 5), "nothing starts unguarded"
    assert (strict["failurePolicy"], strict["timeoutSeconds"]) == ("Fail", 3)
    assert lenient["failurePolicy"] == "Ignore"
    data = one(render({"webhook.failurePolicy": "Ignore"}), "ConfigMap", "-settings")["data"]
    assert data["GUARDRAIL_WEBHOOK_FAILURE_POLICY"] == "Ignore", "the operator applies the same policy"
    assert one(render(), "ConfigMap", "-settings")["data"]["GUARDRAIL_WEBHOOK_FAILURE_POLICY"] == "Fail"


def test_namespaces_labelled_allow_opt_out_false_go_to_the_strict_path() -> None:
    hooks = {h["name"]: h for h in one(render(), "MutatingWebhookConfiguration")["webhooks"]}
    assert sorted(hooks) == ["inject-sidecar-strict.guardrails.dev", "inject-sidecar.guardrails.dev"]
    lenient, strict = hooks["inject-sidecar.guardrails.dev"], hooks["inject-sidecar-strict.guardrails.dev"]
    assert lenient["clientConfig"]["service"]["path"] == f"/{WEBHOOK_ID}"
    assert strict["clientConfig"]["service"]["path"] == f"/{STRICT_WEBHOOK_ID}"
    opt_out = {h: next(e for e in hooks[h]["namespaceSelector"]["matchExpressions"] if e["key"] == ALLOW_OPT_OUT_LABEL)
               for h in hooks}  # fmt: skip
    # Every labelled namespace goes to exactly one of them, decided by its label.
    assert opt_out["inject-sidecar.guardrails.dev"] == {
        "key": ALLOW_OPT_OUT_LABEL,
        "operator": "NotIn",
        "values": ["false"],
    }
    assert opt_out["inject-sidecar-strict.guardrails.dev"] == {
        "key": ALLOW_OPT_OUT_LABEL,
        "operator": "In",
        "values": ["false"],
    }
    for hook in hooks.values():
        names = next(
            e for e in hook["namespaceSelector"]["matchExpressions"] if e["key"] == "kubernetes.io/metadata.name"
        )
        assert NAMESPACE in names["values"], "the operator's own namespace is never sent to its webhook"

    assert lenient["rules"][0]["operations"] == ["CREATE"]
    assert strict["rules"][0]["operations"] == ["CREATE", "UPDATE"], "a running pod's sidecar cannot be swapped"

    (only,) = one(render({"webhook.allowOptOut": False}), "MutatingWebhookConfiguration")["webhooks"]
    assert only["clientConfig"]["service"]["path"] == f"/{STRICT_WEBHOOK_ID}"
    assert ALLOW_OPT_OUT_LABEL not in {e["key"] for e in only["namespaceSelector"]["matchExpressions"]}


def _verify(cert: x509.Certificate, issuer: x509.Certificate) -> None:
    key = issuer.public_key()
    assert cert.signature_hash_algorithm is not None
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
    else:
        assert isinstance(key, ec.EllipticCurvePublicKey)
        key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))


def test_the_generated_ca_bundle_trusts_the_serving_certificate_of_the_webhook_service() -> None:
    manifests = render()
    secret = one(manifests, "Secret", "-webhook-tls")["data"]
    bundle = one(manifests, "MutatingWebhookConfiguration")["webhooks"][0]["clientConfig"]["caBundle"]

    ca = x509.load_pem_x509_certificate(base64.b64decode(bundle))
    serving = x509.load_pem_x509_certificate(base64.b64decode(secret["tls.crt"]))
    _verify(serving, ca)
    names = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert f"gr-guardrail-operator-webhook.{NAMESPACE}.svc" in names.get_values_for_type(x509.DNSName)
    assert serving.not_valid_after_utc - dt.datetime.now(dt.UTC) > dt.timedelta(days=300)


def test_cert_manager_replaces_the_generated_secret_and_injects_the_ca() -> None:
    manifests = render({"webhook.tls.certManager.enabled": True})
    assert "Secret" not in kinds(manifests)
    config = one(manifests, "MutatingWebhookConfiguration")
    assert "caBundle" not in config["webhooks"][0]["clientConfig"]
    assert (
        config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
        == f"{NAMESPACE}/gr-guardrail-operator-webhook"
    )
    serving = one(manifests, "Certificate", "-webhook")
    assert serving["spec"]["secretName"] == "gr-guardrail-operator-webhook-tls"
    assert serving["spec"]["issuerRef"] == {"kind": "Issuer", "name": "gr-guardrail-operator-webhook-ca"}


def test_cert_manager_can_use_an_existing_cluster_issuer() -> None:
    manifests = render(
        {
            "webhook.tls.certManager.enabled": True,
            "webhook.tls.certManager.issuerRef": {"kind": "ClusterIssuer", "name": "corp-ca"},
        }
    )
    assert kinds(manifests).count("Certificate") == 1
    assert "Issuer" not in kinds(manifests)
    assert one(manifests, "Certificate")["spec"]["issuerRef"] == {"kind": "ClusterIssuer", "name": "corp-ca"}


def test_monitoring_objects_appear_only_when_enabled() -> None:
    enabled = render(
        {
            "metrics.serviceMonitor.enabled": True,
            "metrics.podMonitor.enabled": True,
            "metrics.prometheusRule.enabled": True,
        }
    )
    assert {"ServiceMonitor", "PodMonitor", "PrometheusRule"} <= set(kinds(enabled))
    assert not {"ServiceMonitor", "PodMonitor", "PrometheusRule"} & set(kinds(render()))


def test_the_alerts_cover_errors_latency_fail_open_rollback_and_operator_down() -> None:
    rule = one(render({"metrics.prometheusRule.enabled": True}), "PrometheusRule")
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert {
        "GuardrailHighErrorRate", "GuardrailHighAddedLatency", "GuardrailFailOpenDecisions",
        "GuardrailCanaryRolledBack", "GuardrailOperatorDown",
    } <= set(alerts)  # fmt: skip
    assert "> 0.05" in alerts["GuardrailHighErrorRate"]["expr"]
    assert alerts["GuardrailHighErrorRate"]["for"] == "5m"


def test_the_cluster_role_is_least_privilege() -> None:
    role = one(render(), "ClusterRole")
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
        if "secrets" in rule["resources"]:
            assert rule["verbs"] == ["create"], "the operator creates the generated Qdrant key, never reads Secrets"
        assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"])
    lease_rules = one(render(), "Role", "-leader-election")["rules"]
    assert [r.get("resourceNames") for r in lease_rules if "get" in r["verbs"]] == [["gr-guardrail-operator"]]


def _covers_every_kind(rules: list[dict[str, Any]]) -> None:
    for kind, (prefix, plural) in KINDS.items():
        if kind in ("Lease", "Event", "Guardrail"):
            continue  # the Lease is granted by the release-namespace Role; events and Guardrails checked below
        needed = {"get", "list", "create", "patch", "delete"} | (
            {"watch"} if kind in ("Deployment", "StatefulSet") else set()
        )
        if kind == "Secret":
            needed = {"create"}  # the generated Qdrant API key: created, never read
        group = "" if prefix == "/api/v1" else prefix.split("/")[2]
        verbs = {v for r in rules if group in r["apiGroups"] and plural in r["resources"] for v in r["verbs"]}
        assert needed <= verbs, f"{kind}: missing {needed - verbs}"
    granted = {(g, res, v) for r in rules for g in r["apiGroups"] for res in r["resources"] for v in r["verbs"]}
    assert {("", "events", "create"), ("guardrails.dev", "guardrails", "watch")} <= granted
    assert ("guardrails.dev", "guardrails/status", "patch") in granted


def test_the_cluster_role_covers_every_kind_the_operator_touches() -> None:
    rules = one(render(), "ClusterRole")["rules"]
    _covers_every_kind(rules)
    granted = {(g, res, v) for r in rules for g in r["apiGroups"] for res in r["resources"] for v in r["verbs"]}
    assert {("apiextensions.k8s.io", "customresourcedefinitions", v) for v in ("list", "watch")} <= granted, "kopf"


def test_with_watch_namespaces_the_operator_gets_roles_there_and_reads_only_at_cluster_scope() -> None:
    manifests = render({"operator.watchNamespaces": ["shop", "bank"]})
    cluster_rules = one(manifests, "ClusterRole")["rules"]
    assert {(r["apiGroups"][0], tuple(r["resources"])) for r in cluster_rules} == {
        ("apiextensions.k8s.io", ("customresourcedefinitions",)),  # kopf discovers the CRD
        ("", ("namespaces",)),  # kopf learns which watched namespaces exist
    }
    for rule in cluster_rules:
        assert set(rule["verbs"]) <= {"get", "list", "watch"}, "no write verb at cluster scope"
    roles = {
        m["metadata"]["namespace"]: m
        for m in manifests
        if m["kind"] == "Role" and "leader" not in m["metadata"]["name"]
    }
    bindings = {
        m["metadata"]["namespace"]: m
        for m in manifests
        if m["kind"] == "RoleBinding" and "leader" not in m["metadata"]["name"]
    }
    assert sorted(roles) == sorted(bindings) == ["bank", "shop"]
    for namespace, role in roles.items():
        _covers_every_kind(role["rules"])
        binding = bindings[namespace]
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": role["metadata"]["name"],
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "gr-guardrail-operator", "namespace": NAMESPACE}
        ]
    assert one(manifests, "ConfigMap", "-settings")["data"]["GUARDRAIL_WATCH_NAMESPACES"] == "shop,bank"


@pytest.mark.parametrize(
    "values",
    [
        {"webhok": {}},
        {"webhook.failurePolicy": "Sometimes"},
        {"webhook.timeoutSeconds": 60},
        {"sidecar.resources.limits.gpu": "1"},
        {"replicaCount": 0},
    ],
    ids=["typo", "bad-policy", "timeout-over-30s", "unknown-resource", "no-replicas"],
)
def test_the_schema_rejects_invalid_values(values: dict[str, Any]) -> None:
    with pytest.raises(RenderError, match="values don't meet the specifications of the schema"):
        render(values)


def test_the_dashboard_ships_as_a_configmap_grafana_discovers() -> None:
    config = one(render(), "ConfigMap", "-dashboard")
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config["data"]["guardrails.json"])["uid"] == "guardrail-operator"


def _exported_series() -> set[str]:
    """Every series name the sidecar and the operator export (Prometheus adds _total, _bucket, ...)."""
    names = {"up"}
    for metrics in (SidecarMetrics(), OperatorMetrics()):
        for family in metrics.registry.collect():
            suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}.get(family.type, [""])
            names |= {family.name + s for s in suffixes}
    return names


def _without_labels(expr: str) -> str:
    """`expr` without label matchers and label lists (`by (...)`, `on (...)`), so only series names remain."""
    expr = re.sub(r'"[^"]*"', '""', expr)
    expr = re.sub(r"\b(by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    return re.sub(r'\b\w+\s*(=~|!~|!=|=)\s*""', "", expr)


def test_alerts_and_dashboard_query_only_metrics_that_exist() -> None:
    manifests = render({"metrics.prometheusRule.enabled": True})
    rule = one(manifests, "PrometheusRule")
    exprs = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]
    dashboard = json.loads(one(manifests, "ConfigMap", "-dashboard")["data"]["guardrails.json"])
    exprs += [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\b((?:guardrail_|up\b)[a-z_]*)", _without_labels(e))}
    assert used, "no metric found in the expressions"
    assert used - _exported_series() == set()


def test_the_rendered_crd_is_the_one_in_crds_kept_on_uninstall() -> None:
    """The template renders exactly crds/'s CRD (its spec byte for byte as YAML), with the release's labels and
    helm.sh/resource-policy: keep; `crds.keep=false` drops the policy and `crds.enabled=false` the CRD."""
    source = yaml.safe_load((CHART.parent.parent / "crds" / "guardrails.dev_guardrails.yaml").read_text())
    crd = one(render(), "CustomResourceDefinition")
    assert crd["spec"] == source["spec"]
    assert crd["metadata"]["name"] == source["metadata"]["name"]
    assert source["metadata"]["labels"].items() <= crd["metadata"]["labels"].items()
    assert crd["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    assert "annotations" not in one(render({"crds.keep": False}), "CustomResourceDefinition")["metadata"]
    assert "CustomResourceDefinition" not in kinds(render({"crds.enabled": False}))
    assert "CustomResourceDefinition" not in kinds(render({"crds.enabled": False}, "--include-crds"))


def test_helm_lint_passes_strictly() -> None:
    result = subprocess.run(
        [helm(), "lint", str(CHART), "--strict", "--kube-version", "1.36.3"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_the_network_policy_admits_only_the_webhook_and_metrics_ports() -> None:
    policy = one(render({"networkPolicy.metricsFrom": [{"namespaceSelector": {"matchLabels": {"team": "obs"}}}]}),
                 "NetworkPolicy")  # fmt: skip
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    ports = [p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]]
    assert ports == ["webhook", "metrics"]
    assert policy["spec"]["ingress"][1]["from"] == [{"namespaceSelector": {"matchLabels": {"team": "obs"}}}]
    assert "NetworkPolicy" not in kinds(render({"networkPolicy.enabled": False}))
