"""`helm package` + `helm push` to a real OCI registry (the CNCF distribution registry, built from its Go module
by guardrail_chart.registry), then `helm install oci://…` from it on the real control plane."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from guardrail_chart.registry import Registry, serving
from guardrail_devcluster.cluster import REPO_ROOT, LocalCluster

pytestmark = pytest.mark.e2e

CHART = REPO_ROOT / "charts" / "guardrail-operator"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with serving(tmp_path_factory.mktemp("oci-registry")) as running:
        yield running


def test_the_chart_is_pushed_to_and_installed_from_an_oci_registry(
    cluster: LocalCluster, registry: Registry, tmp_path: Path
) -> None:
    version = yaml.safe_load((CHART / "Chart.yaml").read_text())["version"]
    packaged = cluster.helm("package", str(CHART), "-d", str(tmp_path)).stdout
    archive = tmp_path / f"guardrail-operator-{version}.tgz"
    assert str(archive) in packaged
    assert archive.is_file()

    pushed = cluster.helm("push", str(archive), f"oci://{registry.host}/charts", "--plain-http")
    assert f"Pushed: {registry.host}/charts/guardrail-operator:{version}" in pushed.stdout + pushed.stderr
    assert registry.catalog() == ["charts/guardrail-operator"]
    assert registry.tags("charts/guardrail-operator") == [version]

    ref = f"oci://{registry.host}/charts/guardrail-operator"
    pulled = tmp_path / "pulled"
    pulled.mkdir()
    cluster.helm("pull", ref, "--version", version, "--plain-http", "-d", str(pulled))
    digest = hashlib.sha256((pulled / archive.name).read_bytes()).hexdigest()
    assert digest == hashlib.sha256(archive.read_bytes()).hexdigest(), "the registry returns the packaged bytes"

    suffix = uuid.uuid4().hex[:6]
    name, namespace = f"oci-{suffix}", f"guardrail-oci-{suffix}"
    cluster.kubectl("create", "namespace", namespace)
    try:
        cluster.helm(
            "install", name, ref, "--version", version, "--plain-http", "-n", namespace,
            "--set", "crds.enabled=false",  # the cluster's CRD is applied from crds/ (test_crd_upgrade owns it)
            "--set", f"webhook.namespaceLabel.key=e2e.guardrails.dev/oci-{suffix}",
            "--wait", "--timeout", "90s", timeout=150,
        )  # fmt: skip
        listed = json.loads(cluster.helm("list", "-n", namespace, "-o", "json").stdout)
        assert [(r["name"], r["chart"], r["status"]) for r in listed] == [
            (name, f"guardrail-operator-{version}", "deployed")
        ]
        deployment = json.loads(
            cluster.kubectl("get", "deployment", f"{name}-guardrail-operator", "-n", namespace, "-o", "json").stdout
        )
        assert deployment["status"]["readyReplicas"] == 2
    finally:
        cluster.helm("uninstall", name, "-n", namespace, "--wait", check=False, timeout=120)
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
