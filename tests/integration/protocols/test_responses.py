"""The Responses API (`/v1/responses`) with the official `openai` SDK: a passed answer, a blocked answer and a
stream blocked mid-way all parse (the SDK's own stream accumulator checks the event order), streamed and not."""

from __future__ import annotations

import openai
import pytest

from tests.integration.protocols.conftest import INJECTION, QUESTION, REFUSAL, ScriptedApp, answer
from tests.integration.protocols.scripted_app import GROUNDED, MARKER_TOKEN

pytestmark = pytest.mark.integration
INSTRUCTIONS = "You are the support assistant of a web shop. Answer from the shop's documentation."


def test_a_grounded_answer_passes(openai_client: openai.OpenAI) -> None:
    raw = openai_client.responses.with_raw_response.create(
        model="m", instructions=INSTRUCTIONS, input=QUESTION, extra_headers=answer("grounded")
    )
    response = raw.parse()
    assert response.status == "completed"
    assert response.output_text == GROUNDED
    assert raw.headers["x-guardrail-verdict"] == "pass"
    assert (response.model_extra or {})["guardrail"]["verdict"] == "pass"


def test_an_ungrounded_answer_is_refused_as_a_content_filter_stop(openai_client: openai.OpenAI) -> None:
    response = openai_client.responses.create(model="m", input=QUESTION, extra_headers=answer("marker"))
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "content_filter"
    assert response.output_text == REFUSAL
    assert (response.model_extra or {})["guardrail"]["reason"] == "ungrounded"


def test_a_stream_that_passes(openai_client: openai.OpenAI) -> None:
    with openai_client.responses.stream(
        model="m", instructions=INSTRUCTIONS, input=QUESTION, extra_headers=answer("grounded")
    ) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == GROUNDED
    assert final.output_text == GROUNDED
    assert final.status == "completed"
    assert (final.model_extra or {})["guardrail"]["verdict"] == "pass"


def test_a_stream_blocked_mid_way_ends_with_response_incomplete(openai_client: openai.OpenAI) -> None:
    with openai_client.responses.stream(
        model="m", input=QUESTION, extra_headers=answer("grounded-then-marker")
    ) as stream:
        events = list(stream)  # the SDK's accumulator raises on an out-of-order or unfinished item
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text.strip() == GROUNDED
    assert MARKER_TOKEN not in text
    types = [e.type for e in events]
    assert types[0] == "response.created"
    assert types[-1] == "response.incomplete"
    assert types.count("response.output_item.added") == types.count("response.output_item.done")
    last = events[-1]
    assert last.type == "response.incomplete"
    assert last.response.incomplete_details is not None
    assert last.response.incomplete_details.reason == "content_filter"
    assert last.response.output_text.strip() == GROUNDED  # the output is exactly what the client was sent
    assert (last.response.model_extra or {})["guardrail"]["reason"] == "ungrounded"
    assert [e.sequence_number for e in events] == list(range(len(events)))


def test_a_raw_stream_refused_up_front_parses(openai_client: openai.OpenAI, scripted: ScriptedApp) -> None:
    """An injection in a tool output: refused before the app is asked, as a well-formed stream."""
    items = [
        {"type": "message", "role": "user", "content": QUESTION},
        {"type": "function_call", "call_id": "call_1", "name": "lookup_order", "arguments": '{"order": "A-1"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": INJECTION},
    ]
    headers = answer("grounded") | {"x-request-id": "responses-tool-injection"}
    events = list(openai_client.responses.create(model="m", input=items, stream=True, extra_headers=headers))  # type: ignore[arg-type]
    assert events[0].type == "response.created"
    assert events[-1].type == "response.incomplete"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == REFUSAL
    assert "responses-tool-injection" not in scripted.seen()


def test_a_malformed_body_is_a_400_naming_the_field(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        openai_client.responses.create(model="m", input=[{"type": "message", "content": QUESTION}])  # type: ignore[list-item]
    assert "input[0]" in refused.value.message
