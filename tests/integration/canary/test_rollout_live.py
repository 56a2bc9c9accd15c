"""The rollout core end to end, without the operator: a Guardrail in the real control plane, a real Prometheus
scraping the sidecar's metric families, and a stateless loop doing what the reconciler will do each time
(read the object, `analysis_due` -> `analyse` -> `step`, write status), while `kubectl guardrail rollout
status` follows along. Every pass starts from the stored object alone, as a restarted operator would."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from guardrail_cases import example
from guardrail_contract.guardrail import Guardrail
from guardrail_devcluster.cluster import LocalCluster
from guardrail_operator.clients.prometheus import Prometheus
from guardrail_operator.reconcile.revision import model_revision
from guardrail_operator.reconcile.status import status_patch
from guardrail_operator.rollout.actions import Decision, RolloutObserved
from guardrail_operator.rollout.analysis import analyse
from guardrail_operator.rollout.machine import analysis_due, step
from tests.integration.canary.traffic import BAD, BAD_SPEC, GOOD, GOOD_SPEC, STABLE, STABLE_SPEC

pytestmark = pytest.mark.integration

PLUGIN = Path(sys.executable).parent / "kubectl-guardrail"
NAME = "support-bot"


def manifest(spec: dict[str, Any], prometheus_url: str) -> str:
    doc = example()
    doc["metadata"].pop("namespace", None)
    doc["spec"] = copy.deepcopy(spec)
    rollout = doc["spec"]["rollout"]
    rollout["stepInterval"] = "4s"  # also the analysis window: four scrapes
    rollout["analysis"].update({"prometheus": {"url": prometheus_url}, "minRequests": 50})
    return yaml.safe_dump(doc)


def reconcile_once(cluster: LocalCluster, namespace: str) -> Decision:
    """One stateless pass, everything read from the API server (children are taken as ready)."""
    body = json.loads(cluster.kubectl("get", "guardrail", NAME, "-n", namespace, "-o", "json").stdout)
    guardrail = Guardrail.model_validate(body)
    now = datetime.now(UTC)
    window = analysis_due(guardrail, now)
    result = None
    if window is not None:
        prometheus = guardrail.spec.rollout.analysis.prometheus
        assert prometheus is not None
        with Prometheus(prometheus.url) as prom:
            result = analyse(prom.query, window, guardrail.spec.rollout.analysis)
    ready = RolloutObserved(frozenset({model_revision(guardrail.spec)}))
    decision = step(guardrail, ready, result, now)
    new = decision.status.model_copy(update={"observed_generation": body["metadata"]["generation"]})
    patch = status_patch(body.get("status"), new)
    if patch is not None:
        cluster.kubectl(
            "patch", "guardrail", NAME, "-n", namespace, "--subresource=status", "--type=merge", "-p", json.dumps(patch)
        )
    return decision


def drive(cluster: LocalCluster, namespace: str, timeout: float = 60) -> list[int]:
    """Reconcile until the rollout ends; the canary weights status showed, in order."""
    weights: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        canary = reconcile_once(cluster, namespace).status.canary
        if canary is None or canary.state == "RolledBack":
            return weights
        if not weights or weights[-1] != canary.weight:
            weights.append(canary.weight)
        time.sleep(0.5)
    raise TimeoutError(f"rollout did not finish in {timeout}s; weights so far {weights}")


@pytest.fixture
def stable(cluster: LocalCluster, namespace: str, prometheus_url: str) -> str:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=manifest(STABLE_SPEC, prometheus_url))
    status = reconcile_once(cluster, namespace).status
    assert status.stable_revision == STABLE
    return NAME


def follow(cluster: LocalCluster, namespace: str) -> subprocess.Popen[str]:
    cmd = [str(PLUGIN), "--kubeconfig", str(cluster.kubeconfig), "-n", namespace, "rollout", "status", NAME]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stored(cluster: LocalCluster, namespace: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(cluster.kubectl("get", "guardrail", NAME, "-n", namespace, "-o", "json").stdout)
    return out


def test_a_good_revision_goes_10_50_100_and_is_promoted(
    cluster: LocalCluster, namespace: str, prometheus_url: str, stable: str
) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=manifest(GOOD_SPEC, prometheus_url))
    reconcile_once(cluster, namespace)  # the canary starts: `rollout status` has something to follow
    with follow(cluster, namespace) as watcher:
        try:
            assert drive(cluster, namespace) == [10, 50, 100]
            out, _ = watcher.communicate(timeout=20)
        finally:
            watcher.kill()
    assert watcher.returncode == 0, out
    assert f"revision {GOOD} is stable" in out.splitlines()[-1]
    status = stored(cluster, namespace)["status"]
    assert status["stableRevision"] == GOOD
    assert [h["reason"] for h in status["history"]] == ["Initial", "Promoted"]
    assert "canary" not in status


def test_a_bad_revision_is_rolled_back_with_the_reason_in_status(
    cluster: LocalCluster, namespace: str, prometheus_url: str, stable: str
) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=manifest(BAD_SPEC, prometheus_url))
    reconcile_once(cluster, namespace)
    with follow(cluster, namespace) as watcher:
        try:
            assert drive(cluster, namespace) == [10]
            out, _ = watcher.communicate(timeout=20)
        finally:
            watcher.kill()
    assert watcher.returncode == 1, out
    status = stored(cluster, namespace)["status"]
    assert status["phase"] == "RolledBack"
    assert status["stableRevision"] == STABLE
    assert status["canary"]["revision"] == BAD
    assert status["canary"]["weight"] == 0
    rollout = next(c for c in status["conditions"] if c["type"] == "RolloutHealthy")
    assert rollout["status"] == "False"
    assert rollout["reason"] == "AnalysisFailed"
    assert "blockRateIncrease is 0.5" in rollout["message"]
    assert "blockRateIncrease" in out
    assert drive(cluster, namespace) == []  # stays rolled back: the bad revision is not retried by itself


def test_plugin_requests_are_consumed_and_acknowledged(
    cluster: LocalCluster, namespace: str, prometheus_url: str, stable: str
) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=manifest(GOOD_SPEC, prometheus_url))
    assert reconcile_once(cluster, namespace).status.canary is not None
    plugin = [str(PLUGIN), "--kubeconfig", str(cluster.kubeconfig), "-n", namespace]
    subprocess.run([*plugin, "promote", "--full", NAME], check=True, capture_output=True, timeout=30)
    status = reconcile_once(cluster, namespace).status
    assert status.stable_revision == GOOD
    assert status.last_request is not None
    assert status.last_request.action == "promote-full"
    subprocess.run([*plugin, "undo", NAME], check=True, capture_output=True, timeout=30)
    status = reconcile_once(cluster, namespace).status
    assert status.stable_revision == STABLE
    assert status.phase == "RolledBack"
    assert reconcile_once(cluster, namespace).status == status  # acknowledged: a second pass changes nothing
