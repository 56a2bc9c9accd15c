"""`helm install`, `upgrade` and `uninstall` of the chart on the real control plane (kwok runs the pods)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from guardrail_devcluster.cluster import REPO_ROOT, LocalCluster
from guardrail_devcluster.versions import KUBERNETES

pytestmark = pytest.mark.e2e

CHART = str(REPO_ROOT / "charts" / "guardrail-operator")
CRD = "guardrails.guardrails.dev"


@dataclass(frozen=True)
class Release:
    name: str
    namespace: str
    # A namespace label no other test sets, so this release's webhook never sees their pods.
    label_key: str

    @property
    def values(self) -> list[str]:
        # The cluster's CRD is applied from crds/ by the cluster fixture; test_crd_upgrade.py tests the chart's.
        return ["--set", f"webhook.namespaceLabel.key={self.label_key}", "--set", "crds.enabled=false"]


def _json(cluster: LocalCluster, *args: str) -> Any:
    return json.loads(cluster.kubectl(*args, "-o", "json").stdout)


@pytest.fixture
def release(cluster: LocalCluster) -> Iterator[Release]:
    suffix = uuid.uuid4().hex[:6]
    rel = Release(f"gr-{suffix}", f"guardrail-{suffix}", f"e2e.guardrails.dev/injection-{suffix}")
    cluster.kubectl("create", "namespace", rel.namespace)
    cluster.kubectl("label", "namespace", rel.namespace, "pod-security.kubernetes.io/enforce=restricted")
    yield rel
    cluster.helm("uninstall", rel.name, "-n", rel.namespace, "--wait", check=False)
    cluster.kubectl("delete", "namespace", rel.namespace, "--wait=false", check=False)


@pytest.mark.parametrize(
    "values",
    [
        [],
        ["--set", "webhook.failurePolicy=Fail", "--set", "sidecar.native=false", "--set", "replicaCount=3"],
        ["--set", "webhook.enabled=false", "--set", "podDisruptionBudget.enabled=false", "--set", "rbac.create=false",
         "--set", "serviceAccount.create=false", "--set", "serviceAccount.name=default"],
    ],
    ids=["defaults", "strict-webhook", "minimal"],
)  # fmt: skip
def test_the_rendered_chart_passes_strict_server_side_validation(
    cluster: LocalCluster, release: Release, values: list[str]
) -> None:
    """Stronger than an offline schema check: the API server of the version we target validates every field."""
    rendered = cluster.helm(
        "template", release.name, CHART, "-n", release.namespace, "--kube-version", KUBERNETES, *release.values, *values
    ).stdout
    result = cluster.kubectl(
        "apply", "--dry-run=server", "--validate=strict", "-n", release.namespace, "-f", "-", input=rendered
    )
    assert result.stdout.count("(server dry run)") == rendered.count("\nkind: ")
    assert "Warning" not in result.stderr, result.stderr


def _tls(cluster: LocalCluster, release: Release) -> tuple[str, str, str]:
    """(caBundle, Secret ca.crt, Secret tls.crt) as PEM text."""
    secret = _json(cluster, "get", "secret", f"{release.name}-guardrail-operator-webhook-tls", "-n", release.namespace)
    hook = _json(cluster, "get", "mutatingwebhookconfiguration", f"{release.name}-guardrail-operator")
    decode = lambda b64: base64.b64decode(b64).decode()  # noqa: E731
    return (
        decode(hook["webhooks"][0]["clientConfig"]["caBundle"]),
        decode(secret["data"]["ca.crt"]),
        decode(secret["data"]["tls.crt"]),
    )


def test_install_upgrade_and_uninstall(cluster: LocalCluster, release: Release) -> None:
    rel, ns = release.name, release.namespace
    installed = cluster.helm(
        "install", rel, CHART, "-n", ns, *release.values, "--wait", "--timeout", "90s", timeout=120
    )
    assert f"kubectl label namespace <app-namespace> {release.label_key}=enabled" in installed.stdout, "NOTES.txt"

    deployment = _json(cluster, "get", "deployment", f"{rel}-guardrail-operator", "-n", ns)
    assert deployment["status"]["readyReplicas"] == 2, "both replicas were admitted under restricted Pod Security"
    assert _json(cluster, "get", "pdb", f"{rel}-guardrail-operator", "-n", ns)["spec"]["minAvailable"] == 1
    service = _json(cluster, "get", "service", f"{rel}-guardrail-operator-webhook", "-n", ns)
    assert service["spec"]["ports"][0]["port"] == 443
    bundle, ca, serving = _tls(cluster, release)
    assert bundle == ca

    cluster.helm(
        "upgrade", rel, CHART, "-n", ns, "--reuse-values", "--set", "webhook.failurePolicy=Fail", "--wait", timeout=120
    )
    hook = _json(cluster, "get", "mutatingwebhookconfiguration", f"{rel}-guardrail-operator")
    assert hook["webhooks"][0]["failurePolicy"] == "Fail"
    bundle2, ca2, serving2 = _tls(cluster, release)
    assert (bundle2, ca2) == (bundle, ca), "the CA survives an upgrade, so running pods stay trusted"
    assert serving2 != serving, "the serving certificate is re-issued"

    cluster.helm("upgrade", rel, CHART, "-n", ns, "--reuse-values", "--set", "webhook.tls.rotateCA=true", timeout=120)
    bundle3, ca3, _ = _tls(cluster, release)
    assert ca3 != ca
    assert bundle3.count("BEGIN CERTIFICATE") == 2, "during a CA rotation the webhook trusts old and new CA"
    assert ca.strip() in bundle3

    cluster.helm("uninstall", rel, "-n", ns, "--wait", timeout=120)
    gone = cluster.kubectl("get", "deployment", f"{rel}-guardrail-operator", "-n", ns, check=False)
    assert gone.returncode != 0
    assert cluster.kubectl("get", "mutatingwebhookconfiguration", f"{rel}-guardrail-operator", check=False).returncode
    assert cluster.kubectl("get", "clusterrole", f"{rel}-guardrail-operator", check=False).returncode
    assert cluster.kubectl("get", "crd", CRD, check=False).returncode == 0, "helm keeps the CRD"
