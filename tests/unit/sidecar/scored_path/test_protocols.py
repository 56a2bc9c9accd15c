"""Reading requests and answers (openai, json), SSE parsing, redaction and header filtering."""

from __future__ import annotations

from typing import Any

import pytest

from guardrail_contract.sidecar_config import JsonFields
from guardrail_sidecar.errors import RequestError
from guardrail_sidecar.observability.redact import MASK, Redactor
from guardrail_sidecar.scored_path.protocols import (
    annotate_openai,
    get_path,
    json_answer,
    openai_answers,
    parse_json_request,
    parse_openai_request,
    set_path,
)
from guardrail_sidecar.scored_path.sse import EventParser
from guardrail_sidecar.server.http import end_to_end


def test_openai_request_question_and_context() -> None:
    req = parse_openai_request(
        {
            "model": "m",
            "messages": [
                {"role": "system", "content": "Refunds take 14 days."},
                {"role": "assistant", "content": "earlier answer, not evidence"},
                {"role": "user", "content": [{"type": "text", "text": "How long do refunds take?"}]},
            ],
        }
    )
    assert req.question == "How long do refunds take?"
    assert req.context == ("Refunds take 14 days.",)  # the question is not evidence
    assert not req.stream


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"messages": []},
        {"messages": [{"content": "x"}]},
        {"messages": [{"role": "user", "content": 3}]},
        {"messages": [{"role": "user", "content": "x"}], "stream": "yes"},
        {"messages": [{"role": "user", "content": "x"}], "stream": True, "n": 2},
    ],
)
def test_malformed_openai_requests_are_400(body: object) -> None:
    with pytest.raises(RequestError) as err:
        parse_openai_request(body)
    assert err.value.status == 400


def test_openai_answers_and_refusal_replacement() -> None:
    body: dict[str, Any] = {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "A."}, "finish_reason": "stop"}]
    }
    assert openai_answers(body) == ["A."]
    refused = annotate_openai(body, {"verdict": "block"}, refusal="No.")
    assert refused["choices"][0]["message"]["content"] == "No."
    assert refused["choices"][0]["finish_reason"] == "content_filter"
    assert refused["guardrail"] == {"verdict": "block"}
    assert body["choices"][0]["message"]["content"] == "A."  # the input is not modified


def test_json_protocol_paths() -> None:
    fields = JsonFields(question_path="q.text", context_path="docs", answer_path="result.answer")
    req = parse_json_request({"q": {"text": "Why?"}, "docs": ["Because.", " "]}, fields)
    assert req.question == "Why?"
    assert req.context == ("Because.",)
    assert json_answer({"result": {"answer": "Yes."}}, fields) == "Yes."
    with pytest.raises(RequestError):
        parse_json_request({"q": {}}, fields)
    assert get_path({"a": [{"b": 1}]}, "a.0.b") == 1
    assert set_path({"a": {}}, "a.b.c", 2) == {"a": {"b": {"c": 2}}}


def test_sse_parser_handles_split_events_and_crlf() -> None:
    parser = EventParser(max_event_bytes=1000)
    events = parser.feed(b'data: {"a":1}\r\n\r\ndata: {"b"')
    events += parser.feed(b":2}\n\n: keepalive\n\n")
    assert [e.data for e in events] == ['{"a":1}', '{"b":2}', None]
    with pytest.raises(ValueError, match="larger"):
        parser.feed(b"data: " + b"x" * 2000)


def test_redaction_masks_secrets_and_configured_patterns() -> None:
    redact = Redactor([r"\b\d{4}-\d{4}\b"])
    text = redact("key sk-abcdef1234567890 mail bob@example.com card 1234-5678 Bearer abc.def")
    assert "sk-abcdef" not in text
    assert "bob@example.com" not in text
    assert "1234-5678" not in text
    assert "abc.def" not in text
    assert text.count(MASK) == 4


def test_hop_by_hop_headers_are_dropped() -> None:
    headers = [
        ("Connection", "keep-alive, X-Private"),
        ("X-Private", "1"),
        ("Keep-Alive", "5"),
        ("Transfer-Encoding", "chunked"),
        ("X-Kept", "yes"),
        ("Set-Cookie", "a"),
        ("Set-Cookie", "b"),
    ]
    out = end_to_end(headers)
    assert list(out.items()) == [("X-Kept", "yes"), ("Set-Cookie", "a"), ("Set-Cookie", "b")]
