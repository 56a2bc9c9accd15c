"""Reading the sidecar's decision from JSON answers and SSE streams; the scripted app's answers."""

from __future__ import annotations

import json

from guardrail_demo.llm_app import question_of
from guardrail_demo.scenarios import FALLBACK_ANSWER, SCENARIOS, answer_for
from guardrail_demo.traffic import outcome_from_json, outcome_from_sse, request_body

SCENARIO = SCENARIOS[0]


def test_json_answer_with_guardrail_field() -> None:
    body = {
        "choices": [{"message": {"content": "Refused."}}],
        "guardrail": {
            "verdict": "block",
            "score": 0.2,
            "revision": "r1",
            "reason": "weak",
            "citations": [{"id": "a#0"}],
        },
    }
    o = outcome_from_json(SCENARIO, 200, body, 0.1)
    assert (o.verdict, o.score, o.revision, o.reason, o.evidence, o.text) == (
        "block",
        0.2,
        "r1",
        "weak",
        ("a#0",),
        "Refused.",
    )


def test_json_error_body_is_an_error_outcome() -> None:
    o = outcome_from_json(SCENARIO, 502, {"error": {"code": "upstream"}}, 0.1)
    assert o.verdict == "error"
    assert "upstream" in o.error


def test_stream_text_is_joined_and_the_final_chunk_gives_the_verdict() -> None:
    chunks = [
        {"choices": [{"delta": {"content": "Standard shipping "}}]},
        {"choices": [{"delta": {"content": "is free."}}]},
        {
            "choices": [{"delta": {}, "finish_reason": "stop"}],
            "guardrail": {"verdict": "pass", "score": 0.9, "revision": "r"},
        },
    ]
    lines = [f"data: {json.dumps(c)}" for c in chunks] + ["", "data: [DONE]"]
    o = outcome_from_sse(SCENARIO, 200, lines, 0.1)
    assert (o.text, o.verdict, o.score) == ("Standard shipping is free.", "pass", 0.9)


def test_a_stream_without_a_verdict_says_so() -> None:
    o = outcome_from_sse(SCENARIO, 200, ["data: [DONE]"], 0.1)
    assert o.verdict == "none"


def test_the_scripted_app_answers_each_scenario_by_its_question() -> None:
    for scenario in SCENARIOS:
        assert answer_for(question_of(request_body(scenario))) == scenario.answer
    assert answer_for("What is the meaning of life?") == FALLBACK_ANSWER
