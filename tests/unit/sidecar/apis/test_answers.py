"""Reading Responses and Messages answers, and the shapes of their refusals: what the official SDKs' own
models accept (validated strictly here) and what their stream accumulators accept, event by event."""

from __future__ import annotations

import json

import anthropic
import httpx
import httpx2
import openai
import pytest

from guardrail_sidecar.apis import messages, responses
from guardrail_sidecar.apis.tool_arguments import argument_strings, exfiltration
from guardrail_sidecar.scored_path.protocols import ScoringRequest

REQUEST = ScoringRequest("How do refunds work?", ("You are the support bot of a web shop.",))
ANSWER = "Refunds are paid within 14 days."
GUARDRAIL = {"verdict": "block", "score": 0.1, "revision": "r1", "reason": "ungrounded"}


def test_a_responses_answer_is_its_output_text_and_tool_arguments() -> None:
    body = {
        "id": "resp_1",
        "object": "response",
        "status": "completed",
        "instructions": "You are the support bot of a web shop.",  # an echo of the request: not answer text
        "output": [
            {"type": "reasoning", "id": "rs", "summary": [{"type": "summary_text", "text": "Think about refunds."}]},
            {
                "type": "message",
                "id": "m",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": ANSWER, "annotations": []}],
            },
            {"type": "function_call", "id": "f", "call_id": "c", "name": "lookup", "arguments": '{"order": "A-1"}'},
        ],
        "metadata": {"note": "An extra sentence the app added beside the answer."},
        "tool_choice": "auto",
    }
    found = responses.read(body, REQUEST)
    assert ANSWER in found.answers
    assert "Think about refunds." in found.answers
    assert "An extra sentence the app added beside the answer." in found.answers
    assert found.raw_arguments == ['{"order": "A-1"}']
    assert not any("support bot" in a for a in found.answers)
    assert not any(a in ("completed", "auto") for a in found.answers)


def test_a_messages_answer_is_its_text_thinking_and_tool_input() -> None:
    body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "The user wants refunds.", "signature": "c2ln"},
            {"type": "text", "text": ANSWER},
            {"type": "tool_use", "id": "t", "name": "lookup", "input": {"order": "A-1"}},
        ],
        "stop_reason": "tool_use",
    }
    found = messages.read(body, REQUEST)
    assert ANSWER in found.answers
    assert "The user wants refunds." in found.answers
    assert json.loads(found.raw_arguments[0]) == {"order": "A-1"}


def test_the_responses_refusal_is_a_valid_incomplete_response() -> None:
    body = responses.refusal("Withheld.", "m", GUARDRAIL, {"id": "resp_app", "created_at": 5, "model": "gpt"})
    parsed = openai.types.responses.Response.model_validate(body)
    assert parsed.output_text == "Withheld."
    assert parsed.status == "incomplete"
    assert parsed.incomplete_details is not None
    assert parsed.incomplete_details.reason == "content_filter"
    assert (parsed.id, parsed.model) == ("resp_app", "gpt")


def _serving(body: bytes, content_type: str = "text/event-stream") -> httpx.Client:
    """An HTTP client whose every request is answered with `body` (the SDKs parse it as from a server)."""
    return httpx.Client(
        transport=httpx.MockTransport(
            lambda _: httpx.Response(200, content=body, headers={"content-type": content_type})
        )
    )


def test_the_responses_refusal_stream_is_accepted_by_the_sdk() -> None:
    body = responses.refusal("Withheld.", "m", GUARDRAIL)
    client = openai.OpenAI(
        api_key="k", base_url="http://sidecar/v1", http_client=_serving(responses.refusal_events(body))
    )
    with client.responses.stream(model="m", input="q") as stream:  # its accumulator checks the event order
        events = list(stream)
    assert events[0].type == "response.created"
    assert events[-1].type == "response.incomplete"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "Withheld."


def test_the_messages_refusal_is_a_valid_message_and_its_stream_accumulates() -> None:
    body = messages.refusal("Withheld.", "claude", GUARDRAIL)
    assert anthropic.types.Message.model_validate(body).stop_reason == "refusal"
    events = messages.refusal_events(body)
    served = httpx2.Client(  # this SDK's own HTTP library (a fork of httpx)
        transport=httpx2.MockTransport(
            lambda _: httpx2.Response(200, content=events, headers={"content-type": "text/event-stream"})
        )
    )
    client = anthropic.Anthropic(api_key="k", base_url="http://sidecar", http_client=served)
    with client.messages.stream(model="m", max_tokens=8, messages=[{"role": "user", "content": "q"}]) as stream:
        names = [e.type for e in stream]
        final = stream.get_final_message()
    assert names[0] == "message_start"
    assert names[-1] == "message_stop"
    assert final.stop_reason == "refusal"
    assert final.content[0].type == "text"
    assert final.content[0].text == "Withheld."


@pytest.mark.parametrize(
    ("arguments", "why"),
    [
        ('{"url": "https://x.example/p.gif?d=' + "QUJD" * 16 + '"}', "encoded payload"),
        ('{"url": "https://x.example/s?q=' + "word%20" * 60 + '"}', "characters of data"),
        ('{"auth": "Bearer abcdefghijklmnopqrstuvwx"}', "secret"),
        ('{"key": "sk-proj-abcdefghijklmnop1234"}', "secret"),
    ],
)
def test_exfiltration_is_recognised(arguments: str, why: str) -> None:
    found = exfiltration(argument_strings([arguments]))
    assert found is not None
    assert why in found


@pytest.mark.parametrize(
    "arguments",
    [
        '{"order_id": "A-1042", "fields": ["status"]}',
        '{"url": "https://shop.example/orders/123e4567-e89b-12d3-a456-426614174000"}',
        '{"url": "https://docs.example/getting-started-with-the-guardrail-operator-on-kubernetes-clusters"}',
        '{"to": "ops@example.com", "body": "Your refund was sent."}',
    ],
)
def test_ordinary_arguments_are_not_exfiltration(arguments: str) -> None:
    assert exfiltration(argument_strings([arguments])) is None


def test_operator_patterns_count_as_secrets() -> None:
    assert exfiltration(["the code is secret-admin-1"], [r"secret-[\w-]+"]) is not None
