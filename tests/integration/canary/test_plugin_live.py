"""`kubectl guardrail` against the real control plane: its patches land on the Guardrail, and `rollout status`
follows a status (written here through the status subresource, as the operator would) to the right exit code."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from guardrail_devcluster.cluster import LocalCluster
from guardrail_operator.rollout.actions import ACTION_ANNOTATION, REQUEST_ID_ANNOTATION

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "guardrail.yaml"
PLUGIN = Path(sys.executable).parent / "kubectl-guardrail"
NAME = "support-bot"


@pytest.fixture
def guardrail(cluster: LocalCluster, namespace: str) -> str:
    """The repository's example Guardrail, applied into the test namespace."""
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["metadata"].pop("namespace", None)
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(doc))
    return NAME


def plugin(cluster: LocalCluster, namespace: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    cmd = [str(PLUGIN), "--kubeconfig", str(cluster.kubeconfig), "-n", namespace, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def get(cluster: LocalCluster, namespace: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(cluster.kubectl("get", "guardrail", NAME, "-n", namespace, "-o", "json").stdout)
    return out


def set_status(cluster: LocalCluster, namespace: str, status: dict[str, Any]) -> None:
    body = json.dumps({"status": status})
    cluster.kubectl("patch", "guardrail", NAME, "-n", namespace, "--subresource=status", "--type=merge", "-p", body)


T0 = "2026-01-01T00:00:00Z"
PROMOTED = {
    "type": "RolloutHealthy",
    "status": "True",
    "reason": "Promoted",
    "message": "promoted",
    "lastTransitionTime": T0,
}


def progressing(generation: int, weight: int) -> dict[str, Any]:
    return {
        "phase": "Progressing",
        "observedGeneration": generation,
        "stableRevision": "aaaaaaaaaa",
        "canary": {"revision": "bbbbbbbbbb", "weight": weight, "state": "Progressing", "message": f"at {weight}%"},
    }


@pytest.mark.parametrize(
    ("args", "action"),
    [(["promote"], "promote"), (["promote", "--full"], "promote-full"), (["abort"], "abort"), (["undo"], "undo")],
)
def test_actions_are_annotations_with_a_fresh_request_id(
    cluster: LocalCluster, namespace: str, guardrail: str, args: list[str], action: str
) -> None:
    ids = set()
    for _ in range(2):  # the same action twice is two requests
        result = plugin(cluster, namespace, *args, guardrail)
        assert result.returncode == 0, result.stderr
        annotations = get(cluster, namespace)["metadata"]["annotations"]
        assert annotations[ACTION_ANNOTATION] == action
        ids.add(annotations[REQUEST_ID_ANNOTATION])
    assert len(ids) == 2


def test_pause_and_resume_set_the_spec_field(cluster: LocalCluster, namespace: str, guardrail: str) -> None:
    assert plugin(cluster, namespace, "pause", guardrail).returncode == 0
    paused = get(cluster, namespace)
    assert paused["spec"]["rollout"]["paused"] is True
    assert plugin(cluster, namespace, "resume", guardrail).returncode == 0
    resumed = get(cluster, namespace)
    assert resumed["spec"]["rollout"]["paused"] is False
    assert resumed["metadata"]["generation"] > paused["metadata"]["generation"]


def test_dry_run_says_what_would_happen_and_changes_nothing(
    cluster: LocalCluster, namespace: str, guardrail: str
) -> None:
    set_status(cluster, namespace, progressing(1, 10))
    before = get(cluster, namespace)["metadata"]["resourceVersion"]
    result = plugin(cluster, namespace, "promote", guardrail, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "dry run" in result.stdout
    assert "canary bbbbbbbbbb would advance one step from 10%" in result.stdout
    abort = plugin(cluster, namespace, "abort", guardrail, "--dry-run")
    assert "rolled back from 10% to 0%" in abort.stdout
    assert get(cluster, namespace)["metadata"]["resourceVersion"] == before


def test_rollout_status_exits_non_zero_on_rollback(cluster: LocalCluster, namespace: str, guardrail: str) -> None:
    message = "analysis failed: blockRateIncrease is 0.42, above the limit 0.05 (2/2 consecutive failures)"
    canary = {"revision": "bbbbbbbbbb", "weight": 0, "state": "RolledBack", "message": message}
    failed = {**PROMOTED, "status": "False", "reason": "AnalysisFailed", "message": message}
    set_status(
        cluster, namespace, {"phase": "RolledBack", "observedGeneration": 1, "canary": canary, "conditions": [failed]}
    )
    result = plugin(cluster, namespace, "rollout", "status", guardrail, "--timeout", "20s")
    assert result.returncode == 1
    assert "rolled back" in result.stdout
    assert "blockRateIncrease is 0.42" in result.stdout


def test_rollout_status_times_out_while_progressing(cluster: LocalCluster, namespace: str, guardrail: str) -> None:
    set_status(cluster, namespace, progressing(1, 10))
    result = plugin(cluster, namespace, "rollout", "status", guardrail, "--timeout", "1s")
    assert result.returncode == 3
    assert "timed out" in result.stderr


def test_rollout_status_follows_the_rollout_live(cluster: LocalCluster, namespace: str, guardrail: str) -> None:
    set_status(cluster, namespace, progressing(1, 10))
    cmd = [str(PLUGIN), "--kubeconfig", str(cluster.kubeconfig), "-n", namespace, "rollout", "status", guardrail]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            assert "at 10%" in proc.stdout.readline()
            set_status(cluster, namespace, progressing(1, 50))
            assert "at 50%" in proc.stdout.readline()
            set_status(
                cluster,
                namespace,
                {"phase": "Healthy", "stableRevision": "bbbbbbbbbb", "canary": None, "conditions": [PROMOTED]},
            )
            assert "successfully rolled out: revision bbbbbbbbbb is stable" in proc.stdout.readline()
            assert proc.wait(timeout=20) == 0
        finally:
            proc.kill()


def test_history_through_kubectl_plugin_discovery(cluster: LocalCluster, namespace: str, guardrail: str) -> None:
    history = [
        {"revision": "aaaaaaaaaa", "promotedAt": "2026-01-01T10:00:00Z", "reason": "Initial"},
        {"revision": "bbbbbbbbbb", "promotedAt": "2026-01-02T10:00:00Z", "reason": "Promoted"},
    ]
    set_status(cluster, namespace, {"phase": "Healthy", "stableRevision": "bbbbbbbbbb", "history": history})
    env = cluster.env | {"PATH": f"{PLUGIN.parent}{os.pathsep}{cluster.env['PATH']}"}
    kubectl = shutil.which("kubectl", path=env["PATH"])
    assert kubectl is not None
    result = subprocess.run(
        [kubectl, "guardrail", "history", guardrail, "-n", namespace],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert rows == [
        ["aaaaaaaaaa", "2026-01-01T10:00:00Z", "Initial"],
        ["bbbbbbbbbb", "2026-01-02T10:00:00Z", "Promoted", "*"],
    ]


def test_a_missing_guardrail_is_one_clear_error(cluster: LocalCluster, namespace: str) -> None:
    result = plugin(cluster, namespace, "promote", "nope")
    assert result.returncode != 0
    assert f'guardrail "nope" not found in namespace "{namespace}"' in result.stderr
