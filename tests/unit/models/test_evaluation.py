"""Reading eval sets, configuration specs, and ranking configurations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from guardrail_models.configs import parse_spec
from guardrail_models.errors import DatasetError, ModelError
from guardrail_models.evalset import parse_rows, read_jsonl
from guardrail_models.evaluation import LENGTH_BASELINE, Configuration, length_run, rank, run


def test_rows_accept_field_aliases_and_label_words() -> None:
    data = parse_rows(
        [
            {"evidence": "e1", "hypothesis": "c1", "label": "supported"},
            {"premise": "e2", "claim": "c2", "answer": "a2", "label": 0},
        ]
    )
    assert data.pairs == [("e1", "c1"), ("e2", "c2")]
    assert data.answers == ["c1", "a2"]
    assert list(data.labels) == [1.0, 0.0]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"claim": "c", "label": 1}], "premise, evidence"),
        ([{"premise": "p", "claim": "c", "label": "maybe"}], "label 'maybe'"),
        ([{"premise": "p", "claim": "c", "label": 1}], "both"),
        ([], "empty"),
    ],
)
def test_bad_rows_name_the_problem(rows: list[dict[str, object]], message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        parse_rows(rows)


def test_read_jsonl_reports_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps({"premise": "p", "claim": "c", "label": 1}) + "\n{oops\n")
    with pytest.raises(DatasetError, match=":2:"):
        read_jsonl(path)


def test_spec_parsing() -> None:
    spec = parse_spec("int8=models/repository@0.6")
    assert (spec.name, str(spec.path), spec.threshold) == ("int8", "models/repository", 0.6)
    assert parse_spec("fp32=build/nli.onnx").threshold is None  # the command's --threshold applies
    assert parse_spec("base=default").path is None
    v2 = parse_spec("triton=grpc://127.0.0.1:8001@0.4")
    assert (v2.target, v2.threshold) == ("grpc://127.0.0.1:8001", 0.4)
    assert parse_spec("e2e=sidecar:examples/sidecar.yaml").target == "sidecar:examples/sidecar.yaml"
    with pytest.raises(ModelError, match="NAME=PATH"):
        parse_spec("just-a-path")
    with pytest.raises(ModelError, match="not a number"):
        parse_spec("x=models/repository@high")


def test_rank_puts_the_better_configuration_first_with_intervals() -> None:
    data = parse_rows(
        [{"premise": f"p{i}", "claim": f"c{i}", "answer": "w " * (i % 3 + 1), "label": i % 2} for i in range(40)]
    )
    truth = {pair: float(label) for pair, label in zip(data.pairs, data.labels, strict=True)}
    oracle = Configuration("oracle", lambda pairs: [truth[p] for p in pairs])
    noise = Configuration("noise", lambda pairs: [hash(p) % 7 / 7 for p in pairs])
    results = [run(oracle, data), run(noise, data), length_run(data)]
    ranked = rank(results, data.labels, samples=100, seed=0)
    assert ranked[0]["name"] == "oracle"
    assert ranked[0]["auroc"] == 1.0
    assert "leader_wins_share" not in ranked[0]
    others = {r["name"]: r for r in ranked[1:]}
    assert set(others) == {"noise", LENGTH_BASELINE}
    low, high = others["noise"]["auroc_ci"]
    assert low <= others["noise"]["auroc"] <= high
    assert others["noise"]["leader_wins_share"] > 0.9
    assert np.isfinite(ranked[0]["latency_ms"]["p50"])
