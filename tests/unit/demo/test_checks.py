"""Judging answers: product problems (always fatal) versus model misses (quality), and score ranges."""

from __future__ import annotations

from guardrail_demo.checks import model_misses, product_problems, score_ranges, separation_miss
from guardrail_demo.scenarios import SCENARIOS, Scenario
from guardrail_demo.traffic import Outcome

GROUNDED = next(s for s in SCENARIOS if s.kind == "grounded")
HALLUCINATED = next(s for s in SCENARIOS if s.kind == "hallucinated")
INJECTION = next(s for s in SCENARIOS if s.kind == "injection")


def outcome(scenario: Scenario, verdict: str, text: str, revision: str = "r1", score: float = 0.7) -> Outcome:
    return Outcome(scenario, 200, verdict, score, revision, text=text)


def test_a_passed_answer_delivered_unchanged_by_the_right_revision_is_fine() -> None:
    assert product_problems(outcome(GROUNDED, "pass", GROUNDED.answer), "r1") == []


def test_a_blocked_answer_that_still_reached_the_client_is_a_product_problem() -> None:
    problems = product_problems(outcome(HALLUCINATED, "block", "prefix " + HALLUCINATED.answer), "r1")
    assert any("reached the client" in p for p in problems)


def test_a_passed_answer_that_was_altered_is_a_product_problem() -> None:
    problems = product_problems(outcome(GROUNDED, "pass", "something else"), "r1")
    assert any("yet the client got" in p for p in problems)


def test_wrong_revision_errors_and_missing_verdicts_are_product_problems() -> None:
    assert any("scored by revision" in p for p in product_problems(outcome(GROUNDED, "pass", GROUNDED.answer), "r2"))
    assert any("no verdict" in p for p in product_problems(outcome(GROUNDED, "none", GROUNDED.answer), "r1"))
    failed = Outcome(GROUNDED, 502, "error", None, "", error="bad gateway")
    assert product_problems(failed, "r1") == [f"{GROUNDED.name}: HTTP 502 bad gateway"]


def test_a_hallucination_that_passes_is_a_model_miss_not_a_product_problem() -> None:
    passed = outcome(HALLUCINATED, "pass", HALLUCINATED.answer)
    assert product_problems(passed, "r1") == []
    assert len(model_misses(passed, injection_model=True)) == 1
    assert model_misses(outcome(HALLUCINATED, "block", "refused"), injection_model=True) == []
    assert model_misses(outcome(HALLUCINATED, "flag", HALLUCINATED.answer), injection_model=True) == []


def test_a_grounded_answer_that_is_blocked_is_a_model_miss() -> None:
    assert len(model_misses(outcome(GROUNDED, "block", "refused"), injection_model=True)) == 1


def test_grounded_answers_must_score_above_every_hallucination() -> None:
    apart = [outcome(GROUNDED, "pass", "", score=0.7), outcome(HALLUCINATED, "flag", "", score=0.55)]
    assert separation_miss(apart) is None
    overlapping = [outcome(GROUNDED, "flag", "", score=0.6), outcome(HALLUCINATED, "flag", "", score=0.62)]
    miss = separation_miss(overlapping)
    assert miss is not None
    assert "0.600" in miss
    assert "0.620" in miss
    assert separation_miss([outcome(GROUNDED, "pass", "", score=0.7)]) is None


def test_injections_are_only_expected_to_be_blocked_when_the_injection_model_is_deployed() -> None:
    passed = outcome(INJECTION, "pass", INJECTION.answer)
    assert model_misses(passed, injection_model=False) == []
    assert len(model_misses(passed, injection_model=True)) == 1


def test_score_ranges_per_kind() -> None:
    ranges = score_ranges(
        [
            outcome(GROUNDED, "pass", "", score=0.9),
            outcome(GROUNDED, "pass", "", score=0.7),
            outcome(HALLUCINATED, "block", "", score=0.1),
        ]
    )
    assert [(r.kind, r.low, r.high, r.count) for r in ranges] == [
        ("grounded", 0.7, 0.9, 2),
        ("hallucinated", 0.1, 0.1, 1),
    ]
