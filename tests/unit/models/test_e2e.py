"""The in-process model of what the sidecar decides (`guardrail_models.e2e`): claims, context, aggregation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from guardrail_models.e2e import (
    Case,
    Scored,
    aggregate,
    claims_of,
    fit_logistic,
    human_turns,
    passages_of,
    stream_claims,
    with_context,
)

SAMPLE = Path(__file__).resolve().parents[3] / "models" / "eval" / "e2e_dev_sample.jsonl"


def test_short_answers_are_checked_with_their_question_and_sentences_on_their_own() -> None:
    assert claims_of("14 days.", "How long do refunds take?") == ["How long do refunds take? 14 days."]
    answer = "Refunds take 14 days. Shipping is free above 50 euros."
    assert claims_of(answer, "Tell me about refunds.") == ["Refunds take 14 days.", "Shipping is free above 50 euros."]


def test_claim_context_prefixes_the_question_or_the_previous_sentence() -> None:
    claims = ["Zodiac was written by Neal Stephenson.", "He also wrote Snow Crash."]
    assert with_context(claims, "Who wrote Zodiac?", "question")[1] == "Who wrote Zodiac? He also wrote Snow Crash."
    previous = with_context(claims, "", "previous")
    assert previous == [claims[0], f"{claims[0]} {claims[1]}"]
    assert with_context(claims, "Who?", "none") == claims


def test_dialogue_history_turns_and_passages() -> None:
    history = "[Human]: Do you like Zodiac? [Assistant]: Yes, a great book. [Human]: Who wrote it?"
    assert human_turns(history) == ("Do you like Zodiac?", "Who wrote it?")
    case = Case("dialogue", 0, "Zodiac is written by Neal Stephenson.", "Who wrote it?", "Neal.", 1, ("Hi there you.",))
    assert passages_of(case, conversation=True) == ["Zodiac is written by Neal Stephenson.", "Hi there you."]
    assert passages_of(case, conversation=False) == ["Zodiac is written by Neal Stephenson."]


def test_aggregations() -> None:
    scored = Scored((0.9, 0.2, 0.7), whole=0.6)
    assert aggregate(scored, "weakest") == 0.2
    assert aggregate(scored, "whole") == 0.6
    assert aggregate(scored, "mean") == pytest.approx(0.6)
    assert aggregate(Scored((), whole=0.3), "weakest") == 1.0  # nothing checkable passes, as in the sidecar
    equal_weights = np.array([0.0, 0.0, 1.0, 0.0])  # the fusion reading only the whole-answer logit
    assert aggregate(scored, "fusion", equal_weights) == pytest.approx(0.6)
    with pytest.raises(ValueError, match="fitted weights"):
        aggregate(scored, "fusion")


def test_logistic_fit_separates_what_it_can() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 2))
    y = (x[:, 0] - 0.5 * x[:, 1] + rng.normal(scale=0.3, size=2000) > 0).astype(float)
    w = fit_logistic(x, y)
    assert w[0] > 0 > w[1]
    assert np.mean(((x @ w[:2] + w[2]) > 0) == (y == 1)) > 0.9


@pytest.mark.parametrize("chunk", [1, 4, 7, 64])
def test_streaming_path_scores_the_same_claims_as_the_json_path_on_the_dev_sample(chunk: int) -> None:
    """Streamed answers (cut into `chunk`-character deltas) yield the claims the JSON path checks, answer by
    answer, so under the weakest-claim rule both paths reach the same verdict (the sidecar process is held to it
    in tests/integration/models/test_stream_json_agree.py)."""
    from guardrail_models.e2e_eval import read_sample

    cases = [c for task_cases in read_sample(SAMPLE).values() for c in task_cases]
    assert len(cases) >= 300
    for case in cases:
        assert stream_claims(case.answer, case.question, chunk) == claims_of(case.answer, case.question), case.answer
