"""The CRD upgrades with the chart (cert-manager's layout: a template behind `crds.enabled`, kept on uninstall by
`crds.keep`), on the real control plane.

Two previous versions: one made here (the current chart at version 0.0.9 whose CRD lacks one property of the
Guardrail spec), and the chart as it was in git before the CRD became a template (the CRD in its `crds/` folder,
which Helm never upgrades). The cluster fixture applied crds/ with kubectl, so the tests hand that CRD to their
release with the adoption commands docs/charts.md gives, and give it back (re-applied from crds/) afterwards.
"""

from __future__ import annotations

import copy
import io
import json
import shutil
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from guardrail_chart import crds as chart_crds
from guardrail_devcluster.cluster import REPO_ROOT, LocalCluster

pytestmark = pytest.mark.e2e

CHART = REPO_ROOT / "charts" / "guardrail-operator"
SOURCE = REPO_ROOT / "crds" / "guardrails.dev_guardrails.yaml"
CRD = "guardrails.guardrails.dev"
HELM_LABELS = (
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
)
HELM_ANNOTATIONS = ("meta.helm.sh/release-name", "meta.helm.sh/release-namespace", "helm.sh/resource-policy")


def adopt(cluster: LocalCluster, name: str, namespace: str) -> None:
    """docs/charts.md: hand a CRD Helm did not create to release `name`."""
    cluster.kubectl("label", "--overwrite", "crd", CRD, "app.kubernetes.io/managed-by=Helm")
    cluster.kubectl(
        "annotate", "--overwrite", "crd", CRD, f"meta.helm.sh/release-name={name}",
        f"meta.helm.sh/release-namespace={namespace}",
    )  # fmt: skip


def chart_before_crd_templates(folder: Path) -> Path:
    """The chart as committed just before its CRD became a template (from git; skipped in a shallow clone)."""
    git = ["git", "-C", str(REPO_ROOT)]
    found = subprocess.run(
        [*git, "log", "--format=%H", "-1", "--diff-filter=D", "--", "charts/guardrail-operator/crds"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    commit = found.stdout.strip()
    archive = subprocess.run(
        [*git, "archive", "--format=tar", f"{commit}^", "charts/guardrail-operator", "crds"],
        capture_output=True, check=False,
    )  # fmt: skip
    if not commit or archive.returncode != 0:
        pytest.skip(f"the chart's history is not in this clone: {found.stderr or archive.stderr.decode()[:200]}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    chart = folder / "charts" / "guardrail-operator"
    assert (chart / "crds" / SOURCE.name).is_file(), "that chart kept the CRD in its crds/ folder"
    return chart


def _spec_properties(crd: dict[str, Any]) -> dict[str, Any]:
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    properties: dict[str, Any] = schema["properties"]["spec"]["properties"]
    return properties


def _live_crd(cluster: LocalCluster) -> dict[str, Any]:
    crd: dict[str, Any] = json.loads(cluster.kubectl("get", "crd", CRD, "-o", "json").stdout)
    return crd


def previous_chart(folder: Path) -> tuple[Path, str]:
    """The chart at version 0.0.9 with an older CRD (the last property of the Guardrail spec missing); returns the
    chart folder and the property's name."""
    chart = folder / "guardrail-operator"
    shutil.copytree(CHART, chart)
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    meta["version"] = "0.0.9"
    (chart / "Chart.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    older = copy.deepcopy(yaml.safe_load(SOURCE.read_text()))
    properties = _spec_properties(older)
    dropped = list(properties)[-1]
    del properties[dropped]
    (chart / "templates" / "crds" / SOURCE.name).write_text(chart_crds.template(older, SOURCE.name))
    return chart, dropped


@pytest.fixture
def release(cluster: LocalCluster) -> Iterator[tuple[str, str]]:
    """(release, namespace). Afterwards the CRD is unowned again and exactly crds/'s, as other tests expect."""
    suffix = uuid.uuid4().hex[:6]
    name, namespace = f"crd-{suffix}", f"guardrail-crd-{suffix}"
    cluster.kubectl("create", "namespace", namespace)
    yield name, namespace
    cluster.helm("uninstall", name, "-n", namespace, "--wait", check=False)
    cluster.kubectl("label", "crd", CRD, *(f"{k}-" for k in HELM_LABELS), check=False)
    cluster.kubectl("annotate", "crd", CRD, *(f"{k}-" for k in HELM_ANNOTATIONS), check=False)
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(SOURCE))
    cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def test_helm_upgrade_from_the_previous_chart_version_updates_the_crd(
    cluster: LocalCluster, release: tuple[str, str], tmp_path: Path
) -> None:
    name, namespace = release
    chart, dropped = previous_chart(tmp_path)
    values = ["--set", f"webhook.namespaceLabel.key=e2e.guardrails.dev/crd-{name}", "--set", "replicaCount=1"]
    assert dropped in _spec_properties(_live_crd(cluster)), "the cluster starts with crds/'s CRD"

    adopt(cluster, name, namespace)  # a CRD applied by kubectl (or by an old chart's crds/ folder)
    cluster.helm("install", name, str(chart), "-n", namespace, *values, "--wait", "--timeout", "90s", timeout=120)
    old = _live_crd(cluster)
    assert dropped not in _spec_properties(old), "the previous version's CRD is installed"
    assert old["metadata"]["labels"]["helm.sh/chart"] == "guardrail-operator-0.0.9"

    upgraded = cluster.helm("upgrade", name, str(CHART), "-n", namespace, "--reuse-values", "--wait", timeout=120)
    assert "has been upgraded" in upgraded.stdout
    new = _live_crd(cluster)
    assert dropped in _spec_properties(new), f"helm upgrade added spec.{dropped} to the CRD"
    assert new["spec"]["versions"] == yaml.safe_load(SOURCE.read_text())["spec"]["versions"]
    version = yaml.safe_load((CHART / "Chart.yaml").read_text())["version"]
    assert new["metadata"]["labels"]["helm.sh/chart"] == f"guardrail-operator-{version}"
    assert new["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert int(new["metadata"]["generation"]) > int(old["metadata"]["generation"])

    explained = cluster.kubectl("explain", f"guardrails.spec.{dropped}", "--api-version=guardrails.dev/v1alpha1")
    assert f"FIELD: {dropped}" in explained.stdout, "the API server serves the new field"

    cluster.helm("uninstall", name, "-n", namespace, "--wait", timeout=120)
    assert cluster.kubectl("get", "crd", CRD, check=False).returncode == 0, "crds.keep leaves the CRD"


def test_upgrade_from_the_chart_that_kept_the_crd_in_its_crds_folder(
    cluster: LocalCluster, release: tuple[str, str], tmp_path: Path
) -> None:
    """The migration docs/charts.md describes: Helm refuses to take over the CRD until it is adopted, then the
    upgrade manages it (labels, keep policy) without touching the Guardrails' schema. `--reset-then-reuse-values`
    takes the new chart's defaults for values the old release never had (`crds`, new alert thresholds)."""
    name, namespace = release
    old_chart = chart_before_crd_templates(tmp_path)
    values = ["--set", f"webhook.namespaceLabel.key=e2e.guardrails.dev/crd-{name}", "--set", "replicaCount=1"]
    cluster.helm("install", name, str(old_chart), "-n", namespace, *values, "--wait", "--timeout", "90s", timeout=120)
    before = _live_crd(cluster)
    assert "meta.helm.sh/release-name" not in (before["metadata"].get("annotations") or {}), "crds/ is not managed"

    refused = cluster.helm(
        "upgrade", name, str(CHART), "-n", namespace, "--reset-then-reuse-values", check=False, timeout=120
    )
    assert refused.returncode != 0
    assert "invalid ownership metadata" in refused.stderr, refused.stderr

    adopt(cluster, name, namespace)
    cluster.helm("upgrade", name, str(CHART), "-n", namespace, "--reset-then-reuse-values", "--wait", timeout=120)
    after = _live_crd(cluster)
    assert after["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert after["metadata"]["labels"]["app.kubernetes.io/instance"] == name
    assert after["spec"]["versions"] == yaml.safe_load(SOURCE.read_text())["spec"]["versions"]
    cluster.helm("uninstall", name, "-n", namespace, "--wait", timeout=120)
    assert cluster.kubectl("get", "crd", CRD, check=False).returncode == 0, "crds.keep leaves the CRD"
