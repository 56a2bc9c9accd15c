"""What the sidecar reads from Responses, Messages and completions requests: the question, the evidence and
every client text (checked for prompt injection), and a 400 naming the field when a body is malformed."""

from __future__ import annotations

from typing import Any

import pytest

from guardrail_contract.sidecar_config import Proxy
from guardrail_sidecar.apis import completions, messages, responses
from guardrail_sidecar.apis.dispatch import unchecked_retrieval
from guardrail_sidecar.errors import RequestError

TOOL_OUTPUT = "Order A-1 was refunded on 3 May to the original card."
INSTRUCTIONS = "You are the support assistant of a web shop."


def test_responses_reads_every_client_text_and_keeps_tool_output_as_evidence() -> None:
    body = {
        "model": "m",
        "instructions": INSTRUCTIONS,
        "input": [
            {"role": "user", "content": "Where is my refund for order A-1?"},
            {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": '{"note": "look it up now"}'},
            {"type": "function_call_output", "call_id": "c1", "output": TOOL_OUTPUT},
            {"role": "user", "content": [{"type": "input_text", "text": "When will it arrive?"}]},
        ],
        "tools": [{"type": "function", "name": "lookup", "description": "Looks an order up by its id."}],
    }
    request = responses.parse_request(body)
    assert request.question == "When will it arrive?"
    assert TOOL_OUTPUT in request.context
    assert INSTRUCTIONS in request.context
    assert "When will it arrive?" not in request.context  # the question is not its own evidence
    for text in (TOOL_OUTPUT, INSTRUCTIONS, "Where is my refund for order A-1?", "look it up now"):
        assert text in request.untrusted, text
    assert "Looks an order up by its id." in request.untrusted
    assert request.untrusted[0] == "When will it arrive?"  # the latest turn first


def test_responses_accepts_a_plain_string_input() -> None:
    request = responses.parse_request({"model": "m", "input": "How do refunds work?", "stream": True})
    assert (request.question, request.stream, request.model) == ("How do refunds work?", True, "m")


def test_tool_output_given_as_content_parts_is_read() -> None:
    item = {"type": "function_call_output", "call_id": "c", "output": [{"type": "input_text", "text": TOOL_OUTPUT}]}
    assert TOOL_OUTPUT in responses.parse_request({"input": [item]}).untrusted


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ([], "JSON object"),
        ({"input": 3}, "`input`"),
        ({"input": ["hi"]}, "`input[0]`"),
        ({"input": [{"type": "message", "content": "hi"}]}, "`role`"),
        ({"input": [{"role": "user", "content": 4}]}, "input[0].content"),
        ({"input": "hi", "instructions": 1}, "`instructions`"),
        ({"input": "hi", "stream": "true"}, "`stream`"),
    ],
)
def test_responses_malformed_bodies_name_the_field(body: Any, named: str) -> None:
    with pytest.raises(RequestError) as refused:
        responses.parse_request(body)
    assert refused.value.status == 400
    assert named in refused.value.message


def test_messages_reads_system_tool_results_and_documents() -> None:
    body = {
        "model": "m",
        "system": [{"type": "text", "text": INSTRUCTIONS}],
        "messages": [
            {"role": "user", "content": "Where is my refund?"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "lookup", "input": {"q": "find the order now"}}],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": TOOL_OUTPUT}]},
                    {
                        "type": "document",
                        "source": {"type": "text", "media_type": "text/plain", "data": "Refunds take 14 days."},
                    },
                    {"type": "text", "text": "When will it arrive?"},
                ],
            },
        ],
    }
    request = messages.parse_request(body)
    assert request.question == "When will it arrive?"
    assert TOOL_OUTPUT in request.context
    assert "Refunds take 14 days." in request.context
    assert INSTRUCTIONS in request.context
    assert "When will it arrive?" not in request.context
    for text in (TOOL_OUTPUT, INSTRUCTIONS, "Refunds take 14 days.", "find the order now", "Where is my refund?"):
        assert text in request.untrusted, text


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"model": "m"}, "`messages`"),
        ({"messages": []}, "`messages`"),
        ({"messages": [{"role": "system", "content": "x"}]}, "role user or assistant"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": [{"text": "x"}]}]}, "with a `type`"),
        ({"system": 2, "messages": [{"role": "user", "content": "x"}]}, "`system`"),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": 3}]}]}, ".text"),
        ({"messages": [{"role": "user", "content": "x"}], "stream": 1}, "`stream`"),
    ],
)
def test_messages_malformed_bodies_name_the_field(body: Any, named: str) -> None:
    with pytest.raises(RequestError) as refused:
        messages.parse_request(body)
    assert refused.value.status == 400
    assert named in refused.value.message


def test_completions_reads_the_prompt_and_refuses_token_ids() -> None:
    request = completions.parse_request(
        {"model": "m", "prompt": ["first", "How do refunds work?"], "suffix": "end of the text"}
    )
    assert request.question == "How do refunds work?"
    assert {"first", "How do refunds work?", "end of the text"} <= set(request.untrusted)
    with pytest.raises(RequestError, match="token ids"):
        completions.parse_request({"prompt": [101, 2023]})
    with pytest.raises(RequestError, match="n = 1"):
        completions.parse_request({"prompt": "x", "stream": True, "n": 2})


@pytest.mark.parametrize(
    ("method", "target", "refused"),
    [
        ("GET", "/v1/responses/resp_1", True),
        ("POST", "/v1/responses/resp_1/cancel", True),
        ("GET", "/v1//Responses/%72esp_1", True),
        ("GET", "/v1/chat/completions/chatcmpl-1/messages", True),
        ("GET", "/v1/messages/batches/b1/results", True),
        ("DELETE", "/v1/responses/resp_1", False),
        ("POST", "/v1/messages/count_tokens", False),
        ("POST", "/v1/responses/input_tokens", False),
        ("GET", "/v1/models", False),
        ("GET", "/v1/responses", False),  # the scored path itself: its own rules (405 without a body)
    ],
)
def test_stored_answers_under_the_api_paths_are_refused(method: str, target: str, refused: bool) -> None:
    found = unchecked_retrieval(Proxy(), method, target)
    assert (found is not None) == refused
    if found is not None:
        assert found[0].status == 403


def test_sub_paths_of_custom_scored_paths_pass() -> None:
    custom = Proxy(scoredPaths=["/api/ask"])
    assert unchecked_retrieval(custom, "GET", "/api/ask/history") is None
    assert unchecked_retrieval(custom, "GET", "/v1/responses/r1") is None  # not a scored path here
    assert unchecked_retrieval(Proxy(protocol="json"), "GET", "/v1/responses/r1") is None
