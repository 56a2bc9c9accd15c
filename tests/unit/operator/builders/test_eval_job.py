"""The eval-gate Job and the summary its container leaves for the operator (`guardrail_cli.eval_gate`)."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from guardrail_cases import example
from guardrail_cli.eval_gate import compose, main, summarise
from guardrail_contract.guardrail import Guardrail
from guardrail_operator.builders.eval_job import build_eval_job, eval_args, eval_command
from guardrail_operator.controller.gate_sync import eval_result


def guardrail(dataset: dict[str, Any]) -> Guardrail:
    body = copy.deepcopy(example())
    body["metadata"] = {"name": "bot", "namespace": "shop", "uid": "u1"}
    body["spec"]["rollout"]["evalGate"] = {"dataset": dataset, "minAUROC": 0.75}
    return Guardrail.model_validate(body)


def test_the_job_scores_both_revisions_through_their_own_sidecar_configs() -> None:
    job = build_eval_job(guardrail({"configMap": "labelled"}), image="img:1", stable="s1", candidate="c1")
    assert job["metadata"]["name"] == "bot-eval-c1"
    assert job["metadata"]["ownerReferences"][0]["uid"] == "u1"
    pod = job["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    container = pod["containers"][0]
    assert container["args"][:5] == ["python", "-m", "guardrail_cli.eval_gate", "--result-file", "/dev/termination-log"]
    assert container["args"][5:11] == [
        "--compose",
        "stable=/eval/stable",
        "--compose",
        "candidate=/eval/candidate",
        "--workdir",
        "/tmp/eval-gate",
    ]
    assert container["args"][12:] == [
        "guardrail",
        "eval",
        "/eval/dataset/eval.jsonl",
        "--compare",
        "stable=sidecar:/tmp/eval-gate/stable.yaml",
        "--compare",
        "candidate=sidecar:/tmp/eval-gate/candidate.yaml",
        "--json",
    ]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["stable"]["configMap"]["name"] == "bot-config-s1"
    assert volumes["candidate"]["configMap"]["name"] == "bot-config-c1"
    assert volumes["dataset"]["configMap"]["name"] == "labelled"
    assert job["spec"]["backoffLimit"] == 0


def test_a_pvc_dataset_is_mounted_read_only() -> None:
    g = guardrail({"pvc": "eval-data", "key": "sets/grounding.jsonl"})
    pod = build_eval_job(g, image="img:1", stable="s1", candidate="c1")["spec"]["template"]["spec"]
    assert pod["volumes"][0] == {
        "name": "dataset",
        "persistentVolumeClaim": {"claimName": "eval-data", "readOnly": True},
    }
    assert eval_command(g)[2] == "/eval/dataset/sets/grounding.jsonl"


@pytest.mark.parametrize("dataset", [{}, {"configMap": "a", "pvc": "b"}, {"pvc": "b", "key": "../etc/passwd"}])
def test_invalid_dataset_references_are_refused(dataset: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="dataset"):
        guardrail(dataset)


def ranking(leader: str) -> dict[str, Any]:
    rows = {
        "candidate": {"name": "candidate", "auroc": 0.9, "recall": 0.94},
        "stable": {"name": "stable", "auroc": 0.8, "recall": 0.9},
        "length-only": {"name": "length-only", "auroc": 0.55, "recall": 0.5, "leader_wins_share": 1.0},
    }
    if leader == "candidate":
        rows["stable"]["leader_wins_share"] = 0.93
        order = ["candidate", "stable", "length-only"]
    else:
        rows["stable"] |= {"auroc": 0.95}
        rows["candidate"]["leader_wins_share"] = 0.8
        order = ["stable", "candidate", "length-only"]
    return {"dataset": "x", "n": 200, "ranking": [rows[n] for n in order]}


def test_summary_turns_p_leader_better_into_p_candidate_better() -> None:
    assert summarise(ranking("candidate")) == {
        "candidateAUROC": 0.9,
        "stableAUROC": 0.8,
        "leadProbability": 0.93,
        "falseBlockRate": pytest.approx(0.06),
        "pairs": 200,
    }
    assert summarise(ranking("stable"))["leadProbability"] == pytest.approx(0.2)


def test_entry_point_writes_the_result_the_operator_reads(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text(json.dumps(ranking("candidate")))
    result = tmp_path / "termination-log"
    assert main(["--result-file", str(result), "--", sys.executable, "-c", f"print(open({str(report)!r}).read())"]) == 0
    pod = {
        "status": {"containerStatuses": [{"name": "eval", "state": {"terminated": {"message": result.read_text()}}}]}
    }
    assert eval_result([pod]) == summarise(ranking("candidate"))

    failing = [sys.executable, "-c", "import sys; sys.exit('the v2 server is not usable')"]
    assert main(["--result-file", str(result), "--", *failing]) == 1
    assert "the v2 server is not usable" in json.loads(result.read_text())["error"]
    assert len(result.read_text()) < 4096
    assert eval_args(guardrail({"configMap": "x"}))[11] == "--"


def test_compose_routes_a_canary_configmaps_sidecar_yaml_to_one_revision(tmp_path: Path) -> None:
    mounted = tmp_path / "candidate"
    mounted.mkdir()
    split = {
        "proxy": {"listenPort": 8000, "upstreamPort": 8080},
        "watch": {"namespace": "shop", "name": "bot"},
        "routing": {"stable": {"revision": "s1"}, "canary": {"revision": "c1"}, "canaryWeight": 0},
    }
    (mounted / "sidecar.yaml").write_text(yaml.safe_dump(split))
    (mounted / "revision.yaml").write_text(yaml.safe_dump({"revision": "c1", "policy": {"threshold": 0.6}}))
    composed = compose(mounted)
    assert composed["routing"] == {"stable": {"revision": "c1", "policy": {"threshold": 0.6}}}
    assert composed["proxy"] == split["proxy"]
