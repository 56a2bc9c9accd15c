"""Per-task grounding summaries: pairs come out in (right, hallucinated) order and length-matching is applied."""

from __future__ import annotations

import numpy as np

from guardrail_models.grounding_eval import evaluate_items, length_baseline, pair_rows, unrelated_evidence
from guardrail_models.halueval import Item


def items() -> list[Item]:
    return [
        Item("dialogue", 0, "ev0", "", "one two three", "one two four"),  # length-matched
        Item("dialogue", 1, "ev1", "", "short", "a much longer hallucinated answer here"),
        Item("dialogue", 2, "ev2", "", "alpha beta", "alpha gamma"),  # length-matched
    ]


def test_pair_rows_alternate_right_then_hallucinated() -> None:
    rows = pair_rows(items())
    assert [r["label"] for r in rows] == [1, 0, 1, 0, 1, 0]
    assert rows[1]["claim"] == "one two four"


def test_perfect_scorer_and_length_baseline_on_matched_subset() -> None:
    perfect = np.array([0.9, 0.1] * 3)
    result = evaluate_items(items(), perfect)
    assert result["all"]["auroc"] == 1.0
    assert result["all"]["win_rate"] == 1.0
    assert result["length_matched"]["n_pairs"] == 4.0
    baseline = evaluate_items(items(), length_baseline(items()), threshold=None)
    assert baseline["length_matched"]["auroc"] == 0.5  # equal lengths: length says nothing
    assert baseline["all"]["auroc"] > 0.5


def test_unrelated_evidence_measures_support_from_the_wrong_evidence() -> None:
    supported = [(f"The shop opens at {h} am.", f"opens at {h} am") for h in range(5, 11)]

    def contains(pairs: list[tuple[str, str]]) -> list[float]:  # supported only when the evidence says it
        return [1.0 if claim in evidence else 0.0 for evidence, claim in pairs]

    def anything(pairs: list[tuple[str, str]]) -> list[float]:  # the failure: any evidence supports anything
        return [0.9 for _ in pairs]

    good = unrelated_evidence(supported, contains, shift=2)
    assert good["own_pass_rate"] == 1.0
    assert good["unrelated_pass_rate"] == good["system_prompt_pass_rate"] == 0.0
    assert good["auroc_own_vs_unrelated"] == good["own_above_unrelated"] == 1.0
    bad = unrelated_evidence(supported, anything)
    assert bad["unrelated_pass_rate"] == bad["system_prompt_pass_rate"] == 1.0
    assert bad["auroc_own_vs_unrelated"] == 0.5
    assert bad["own_above_unrelated"] == 0.0
