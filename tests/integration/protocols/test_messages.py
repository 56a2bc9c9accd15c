"""The Messages API (`/v1/messages`) with the official `anthropic` SDK: a passed answer, a blocked answer
(`stop_reason: refusal`) and a stream blocked mid-way all parse, streamed and not; the sidecar's own errors
come in Anthropic's error shape, so the SDK raises its typed exceptions."""

from __future__ import annotations

import anthropic
import pytest

from tests.integration.protocols.conftest import INJECTION, QUESTION, REFUSAL, ScriptedApp, answer
from tests.integration.protocols.scripted_app import GROUNDED, MARKER_TOKEN

pytestmark = pytest.mark.integration
SYSTEM = "You are the support assistant of a web shop. Answer from the shop's documentation."
MESSAGES: list[anthropic.types.MessageParam] = [{"role": "user", "content": QUESTION}]


def test_a_grounded_answer_passes(anthropic_client: anthropic.Anthropic) -> None:
    raw = anthropic_client.messages.with_raw_response.create(
        model="m", max_tokens=256, system=SYSTEM, messages=MESSAGES, extra_headers=answer("grounded")
    )
    message = raw.parse()
    assert message.content[0].type == "text"
    assert message.content[0].text == GROUNDED
    assert message.stop_reason == "end_turn"
    assert raw.headers["x-guardrail-verdict"] == "pass"


def test_an_ungrounded_answer_is_a_refusal(anthropic_client: anthropic.Anthropic) -> None:
    message = anthropic_client.messages.create(
        model="m", max_tokens=256, messages=MESSAGES, extra_headers=answer("marker")
    )
    assert message.stop_reason == "refusal"
    assert message.content[0].type == "text"
    assert message.content[0].text == REFUSAL
    assert (message.model_extra or {})["guardrail"]["reason"] == "ungrounded"


def test_a_stream_that_passes(anthropic_client: anthropic.Anthropic) -> None:
    with anthropic_client.messages.stream(
        model="m", max_tokens=256, system=SYSTEM, messages=MESSAGES, extra_headers=answer("grounded")
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == GROUNDED
    assert final.stop_reason == "end_turn"
    assert final.content[0].type == "text"
    assert final.content[0].text == GROUNDED


def test_a_stream_blocked_mid_way_stops_with_refusal(anthropic_client: anthropic.Anthropic) -> None:
    with anthropic_client.messages.stream(
        model="m", max_tokens=256, messages=MESSAGES, extra_headers=answer("grounded-then-marker")
    ) as stream:
        events = list(stream)
        final = stream.get_final_message()
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta")
    assert text.strip() == GROUNDED
    assert MARKER_TOKEN not in text
    assert final.stop_reason == "refusal"
    assert [e.type for e in events][-1] == "message_stop"
    delta = next(e for e in events if e.type == "message_delta")
    assert (delta.model_extra or {})["guardrail"]["reason"] == "ungrounded"


def test_an_injected_tool_result_is_refused_before_the_app(
    anthropic_client: anthropic.Anthropic, scripted: ScriptedApp
) -> None:
    messages: list[anthropic.types.MessageParam] = [
        {"role": "user", "content": QUESTION},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "refunds"}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": INJECTION}]},
    ]
    headers = answer("grounded") | {"x-request-id": "messages-tool-injection"}
    with anthropic_client.messages.stream(
        model="m", max_tokens=256, messages=messages, extra_headers=headers
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "refusal"
    assert final.content[0].type == "text"
    assert final.content[0].text == REFUSAL
    assert "messages-tool-injection" not in scripted.seen()


def test_errors_come_in_anthropic_shape(anthropic_client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as refused:
        anthropic_client.messages.create(model="m", max_tokens=256, messages=[])
    body = refused.value.body
    assert isinstance(body, dict)
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert "messages" in body["error"]["message"]
