"""checkov finds nothing in the rendered chart, and every suppression carries its reason."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from guardrail_chart import scan

pytestmark = pytest.mark.integration  # runs helm and checkov

TEMPLATES = Path(scan.CHART) / "templates"


@pytest.fixture(scope="module")
def checkov() -> Path:
    exe = scan.checkov_path()
    if not exe.exists():
        pytest.skip("checkov is not installed: python -m guardrail_chart.scan --install")
    return exe


def test_the_chart_with_every_feature_on_passes_the_scan(checkov: Path) -> None:
    report = scan.scan(scan.render(), checkov)
    assert report.failed == []
    assert report.passed > 50


def test_the_namespaced_rbac_of_watch_namespaces_passes_the_scan(checkov: Path) -> None:
    rendered = scan.render(sets=(*scan.ALL_FEATURES, "operator.watchNamespaces={shop,bank}"))
    assert rendered.count("\nkind: Role\n") == 3  # leader election + one per watched namespace
    report = scan.scan(rendered, checkov)
    assert report.failed == []


def test_every_suppression_is_justified_in_place() -> None:
    skips = [m for t in TEMPLATES.glob("*.yaml") for m in re.findall(r"checkov\.io/skip\d+: (.*)", t.read_text())]
    assert skips
    for skip in skips:
        check, _, reason = skip.partition("=")
        assert re.fullmatch(r"CKV2?_K8S_\d+", check)
        assert len(reason.split()) >= 5, f"{check} needs a reason a reviewer can judge"


def test_the_scan_catches_an_insecure_pod(checkov: Path) -> None:
    insecure = """
apiVersion: v1
kind: Pod
metadata: {name: bad, namespace: default}
spec:
  hostNetwork: true
  containers:
    - name: c
      image: busybox:latest
      securityContext: {privileged: true}
"""
    failed = {f.check_id for f in scan.scan(insecure, checkov).failed}
    assert {"CKV_K8S_16", "CKV_K8S_19"} <= failed  # privileged container, host network
