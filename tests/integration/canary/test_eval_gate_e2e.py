"""The offline eval gate on the real control plane: the operator runs the candidate's eval Job, reads its result
from the Pod's termination message, and promotes a better model (figures kept in the history) or rolls back a
worse one (AUROC and P(candidate better) in status and in a Warning Event).

kwok runs no containers. The test plays the kubelet for the eval Job's one Pod, and says so: it mounts the Pod's
volumes (the dataset ConfigMap and the stable and candidate revision ConfigMaps) into a local folder, runs the
container's own args there (`python -m guardrail_cli.eval_gate --result-file ... -- guardrail eval ... --compare
stable=sidecar:... --compare candidate=sidecar:...`: two real sidecars scoring the labelled set with the real
models), and writes the result file into the Pod's `terminated.message`, which is where the operator reads it in a
cluster too. The one change to the mounted files: each `sidecar.yaml` gets `modelsOverride` pointing at a local
model repository instead of the in-cluster Triton Service (which kwok does not run). In that repository NLI
version 1 is the project's model and version 2 the same weights packaged with a shuffled tokenizer vocabulary: a
worse model (AUROC about 0.55 against 0.80 on this set).
"""

from __future__ import annotations

import copy
import json
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from guardrail_cases import example
from guardrail_contract.guardrail import GuardrailSpec
from guardrail_devcluster.cluster import LocalCluster
from guardrail_operator.clients.k8s import KubeClient, load_api_client
from guardrail_operator.reconcile.revision import guardrail_revision
from tests.integration.operator.helpers import OperatorProcess, wait_for
from tests.support.processes import REPO

pytestmark = pytest.mark.integration

REPOSITORY = REPO / "models" / "repository"
DEV_SET = REPO / "models" / "eval" / "halueval_dev.jsonl"  # dev rows, none of the held-back test rows
PAIRS = 60
GATE = {
    "dataset": {"configMap": "grounding-eval", "key": "eval.jsonl"},
    "minAUROC": 0.7,
    "minLeadProbability": 0.3,
    "maxFalseBlockRate": 0.6,  # the better model blocks 37-47 % of this set's supported claims at 0.5 (a hard set)
}


def spec(nli_version: str, threshold: float) -> dict[str, Any]:
    out: dict[str, Any] = copy.deepcopy(example()["spec"])
    del out["knowledgeBase"]
    out["models"]["nli"]["version"] = nli_version
    out["policy"].update(threshold=threshold, softLimit=threshold, promptInjection={"enabled": False})
    out["rollout"] = {"steps": [50, 100], "stepInterval": "2s", "evalGate": GATE}
    return out


def revision_of(raw: dict[str, Any]) -> str:
    return guardrail_revision(GuardrailSpec.model_validate(raw))


def local_repository(tmp: Path) -> Path:
    """nli/1: the project's model; nli/2: the same weights packaged with a shuffled tokenizer vocabulary, so the
    model reads the wrong token ids (a worse model)."""
    repo = tmp / "repository"
    shutil.copytree(REPOSITORY, repo, symlinks=True, ignore=shutil.ignore_patterns("*.onnx"))
    for model in ("nli", "embedding", "injection"):
        for onnx in (REPOSITORY / model).glob("*/model.onnx"):
            (repo / model / onnx.parent.name / "model.onnx").symlink_to(onnx)
    worse = repo / "nli" / "2"
    shutil.copytree(repo / "nli" / "1", worse, symlinks=True)
    tokenizer = json.loads((worse / "tokenizer.json").read_text())
    vocab = tokenizer["model"]["vocab"]
    special = {t["content"] for t in tokenizer["added_tokens"]}
    words = [w for w in vocab if w not in special]
    ids = [vocab[w] for w in words]
    random.Random(21).shuffle(ids)
    vocab.update(zip(words, ids, strict=True))
    (worse / "tokenizer.json").write_text(json.dumps(tokenizer))
    return repo


def apply(cluster: LocalCluster, namespace: str, raw_spec: dict[str, Any]) -> None:
    body = {**example(), "spec": raw_spec, "metadata": {"name": "support-bot", "namespace": namespace}}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(body))


def status(kube: KubeClient, namespace: str) -> dict[str, Any]:
    return dict(kube.get("Guardrail", namespace, "support-bot").get("status") or {})


def play_kubelet(
    kube: KubeClient, cluster: LocalCluster, namespace: str, tmp: Path, repo: Path, candidate: str
) -> dict[str, Any]:
    """Wait for the candidate's eval Job and its Pod, run the container locally with its volumes mounted, and
    report the result in the Pod's status as the kubelet would."""

    def the_job() -> dict[str, Any] | None:
        jobs = kube.list("Job", namespace, "app.kubernetes.io/component=eval-gate")
        mine = [
            j for j in jobs if j["metadata"].get("annotations", {}).get("guardrails.dev/eval-candidate") == candidate
        ]
        return mine[0] if mine else None

    job = wait_for(f"the eval Job of {candidate}", the_job, 60)
    name = job["metadata"]["name"]
    pod_spec = job["spec"]["template"]["spec"]
    container = pod_spec["containers"][0]
    root = tmp / name
    volumes = {v["name"]: v for v in pod_spec["volumes"]}
    for mount in container["volumeMounts"]:
        target = root / mount["mountPath"].lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        source = volumes[mount["name"]].get("configMap")
        if source is None:
            continue  # emptyDir
        data = kube.get("ConfigMap", namespace, source["name"])["data"]
        for key, text in data.items():
            if key == "sidecar.yaml":  # the one change: local models instead of the in-cluster Triton
                config = yaml.safe_load(text)
                config["modelsOverride"] = {"backend": "embedded", "embedded": {"repository": str(repo)}}
                text = yaml.safe_dump(config)
            (target / key).write_text(text)
    result_file = root / "termination-log"
    # the pod's paths (/eval/... mounts, /tmp/... its emptyDir) under the local root, wherever they appear
    args = [re.sub(r"(^|[=:])/(eval|tmp)/", lambda m: f"{m[1]}{root}/{m[2]}/", a) for a in container["args"]]
    args[args.index("--result-file") + 1] = str(result_file)
    assert args[:3] == ["python", "-m", "guardrail_cli.eval_gate"]
    args[0] = sys.executable
    args[args.index("guardrail")] = str(Path(sys.executable).with_name("guardrail"))
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)
    assert result_file.is_file(), done.stderr[-2000:]
    result: dict[str, Any] = json.loads(result_file.read_text())
    assert "error" not in result, result

    def succeeded() -> dict[str, Any] | None:
        pods = kube.list("Pod", namespace, f"batch.kubernetes.io/job-name={name}")
        return next((p for p in pods if p.get("status", {}).get("phase") == "Succeeded"), None)

    pod = wait_for("kwok to complete the eval Job's Pod", succeeded, 60)
    patch = [
        {"op": "add", "path": "/status/containerStatuses/0/state/terminated/message", "value": result_file.read_text()}
    ]
    cluster.kubectl(
        "-n", namespace, "patch", "pod", pod["metadata"]["name"], "--subresource=status", "--type=json",
        "-p", json.dumps(patch),
    )  # fmt: skip
    return result


def test_eval_gate_promotes_a_better_model_and_rolls_back_a_worse_one(
    cluster: LocalCluster, namespace: str, tmp_path: Path
) -> None:
    kube = KubeClient(load_api_client(str(cluster.kubeconfig)), "guardrail-tests")
    repo = local_repository(tmp_path)
    rows = DEV_SET.read_text().splitlines()[:PAIRS]
    dataset = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "grounding-eval", "namespace": namespace}}
    cluster.kubectl("apply", "-f", "-", input=json.dumps({**dataset, "data": {"eval.jsonl": "\n".join(rows) + "\n"}}))
    operator = OperatorProcess(cluster, namespace, "op-a", tmp_path)
    try:
        weak = spec("2", 0.5)  # the first revision is stable at once: no gate before anything serves
        apply(cluster, namespace, weak)
        wait_for(
            "the weak model to be stable",
            lambda: status(kube, namespace).get("stableRevision") == revision_of(weak),
            60,
        )

        better = spec("1", 0.5)
        apply(cluster, namespace, better)
        seen = wait_for(
            "the better model in the eval gate",
            lambda: (c := status(kube, namespace).get("canary") or {}).get("state") == "EvalGate" and c,
            90,
        )
        assert seen["weight"] == 0, "no traffic while the eval gate runs"
        result = play_kubelet(kube, cluster, namespace, tmp_path, repo, revision_of(better))
        print("better model:", result)
        assert result["candidateAUROC"] > result["stableAUROC"]

        def promoted_or_failed() -> dict[str, Any] | None:
            now = status(kube, namespace)
            assert now.get("phase") != "RolledBack", now.get("canary")
            return now if now.get("stableRevision") == revision_of(better) else None

        promoted = wait_for("the better model promoted", promoted_or_failed, 120)
        entry = promoted["history"][-1]
        assert entry["revision"] == revision_of(better)
        assert entry["evalGate"]["passed"] is True
        assert entry["evalGate"]["candidateAUROC"] == pytest.approx(result["candidateAUROC"])
        assert entry["evalGate"]["leadProbability"] == pytest.approx(result["leadProbability"])

        worse = spec("2", 0.55)  # the weak model again (a new revision: another threshold)
        apply(cluster, namespace, worse)
        wait_for(
            "the worse model in the eval gate",
            lambda: (status(kube, namespace).get("canary") or {}).get("state") == "EvalGate",
            90,
        )
        result = play_kubelet(kube, cluster, namespace, tmp_path, repo, revision_of(worse))
        print("worse model:", result)
        assert result["candidateAUROC"] < GATE["minAUROC"]
        rolled_back = wait_for(
            "the worse model rolled back",
            lambda: (s := status(kube, namespace)).get("phase") == "RolledBack" and s,
            120,
        )
        canary = rolled_back["canary"]
        assert (canary["revision"], canary["state"], canary["weight"]) == (revision_of(worse), "RolledBack", 0)
        assert rolled_back["stableRevision"] == revision_of(better)
        figures = canary["evalGate"]
        assert figures["passed"] is False
        assert figures["candidateAUROC"] == pytest.approx(result["candidateAUROC"])
        assert figures["leadProbability"] == pytest.approx(result["leadProbability"])
        assert "candidateAUROC" in canary["message"]
        assert "P(candidate better)" in canary["message"]
        rollout = next(c for c in rolled_back["conditions"] if c["type"] == "RolloutHealthy")
        assert (rollout["status"], rollout["reason"]) == ("False", "EvalGateFailed")
        events = cluster.kubectl("get", "events", "-n", namespace, "--field-selector", "reason=RolledBack").stdout
        assert "AUROC" in events
    finally:
        operator.stop()
