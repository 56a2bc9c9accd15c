"""`guardrail eval` and `guardrail model` on the committed dev set and repository."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from guardrail_cli.main import cli
from guardrail_contract import tensors
from guardrail_contract.sidecar_config import Policy
from guardrail_models.repository import default_repository

pytestmark = pytest.mark.integration

DEV_SET = default_repository().parent / "eval" / "halueval_dev.jsonl"


def test_eval_compare_ranks_two_configurations_with_intervals(tmp_path: Path) -> None:
    nli = default_repository() / tensors.NLI_MODEL / "1" / tensors.MODEL_FILE
    plot = tmp_path / "roc.png"
    args = ["eval", str(DEV_SET), "--limit", "160", "--bootstrap", "100", "--json", "--plot", str(plot)]
    args += ["--compare", f"model={nli}@0.5", "--compare", f"strict={nli}@0.9"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    ranking = json.loads(result.output)["ranking"]
    names = [row["name"] for row in ranking]
    assert sorted(names) == ["length-only", "model", "strict"]
    assert [row["rank"] for row in ranking] == [1, 2, 3]
    assert ranking[0]["auroc"] >= ranking[-1]["auroc"]
    for row in ranking:
        low, high = row["auroc_ci"]
        assert low <= row["auroc"] <= high
    by_name = {row["name"]: row for row in ranking}
    # same scores, different thresholds: a stricter threshold passes fewer claims
    assert by_name["strict"]["recall"] <= by_name["model"]["recall"]
    assert by_name["model"]["latency_ms"]["p50"] > 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_reports_the_threshold_for_a_false_block_rate_and_a_reliability_curve() -> None:
    args = ["eval", str(DEV_SET), "--limit", "200", "--bootstrap", "20", "--json", "--target-false-block", "0.1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    by_name = {row["name"]: row for row in json.loads(result.output)["ranking"]}
    model, length = by_name["default"], by_name["length-only"]
    at = model["at_target_false_block"]
    assert at["target"] == 0.1
    assert at["false_block"] <= 0.1
    assert 0 < at["caught"] <= 1
    assert model["threshold"] == Policy().threshold  # the default is the policy's
    bins = model["reliability"]["bins"]
    assert sum(b["n"] for b in bins) == 200
    assert 0 <= model["reliability"]["ece"] <= 1
    assert "reliability" not in length  # word counts are no probabilities
    assert "at_target_false_block" in length


def test_eval_table_output_names_the_baseline() -> None:
    result = CliRunner().invoke(cli, ["eval", str(DEV_SET), "--limit", "40", "--bootstrap", "20"])
    assert result.exit_code == 0, result.output
    assert "length-only" in result.output
    assert "AUROC" in result.output
    assert "thr @ 5% FB" in result.output


def test_eval_rejects_a_bad_spec() -> None:
    result = CliRunner().invoke(cli, ["eval", str(DEV_SET), "--compare", "nonsense"])
    assert result.exit_code != 0
    assert "NAME=PATH" in result.output


def test_package_copies_and_verifies_a_repository(tmp_path: Path) -> None:
    out = tmp_path / "repo"
    runner = CliRunner()
    result = runner.invoke(cli, ["model", "package", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "nli" / "config.pbtxt").is_file()
    assert runner.invoke(cli, ["model", "verify", "--root", str(out)]).exit_code == 0
    (out / "nli" / "1" / tensors.MODEL_FILE).write_bytes(b"corrupt")
    broken = runner.invoke(cli, ["model", "verify", "--root", str(out)])
    assert broken.exit_code == 1
    assert "checksum mismatch: nli/1/model.onnx" in broken.output


def test_package_own_onnx_checks_the_contract(tmp_path: Path) -> None:
    source = default_repository() / tensors.NLI_MODEL / "1"
    own = tmp_path / "own.onnx"
    shutil.copyfile(source / tensors.MODEL_FILE, own)
    runner = CliRunner()
    args = ["model", "package", "--onnx", str(own), "--tokenizer", str(source / tensors.TOKENIZER_FILE)]
    ok = runner.invoke(cli, [*args, "--kind", "nli", "--name", "my-nli", "--out", str(tmp_path / "repo")])
    assert ok.exit_code == 0, ok.output
    assert 'name: "my-nli"' in (tmp_path / "repo" / "my-nli" / "config.pbtxt").read_text()
    wrong = runner.invoke(cli, [*args, "--kind", "embedding", "--out", str(tmp_path / "repo2")])
    assert wrong.exit_code != 0
    assert "does not match the embedding contract" in wrong.output


def test_verify_the_committed_models() -> None:
    result = CliRunner().invoke(cli, ["model", "verify"])
    assert result.exit_code == 0, result.output
