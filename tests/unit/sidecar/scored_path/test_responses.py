"""Reading answers (every text a client could see), the bytes bound of the caches, and the response-side config."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from guardrail_contract.sidecar_config import ConfigError, JsonFields, Policy, SidecarConfig
from guardrail_sidecar.scored_path.responses import (
    Unreadable,
    app_headers,
    is_metadata,
    read_answer,
    without_dropped,
    without_prose,
)
from guardrail_sidecar.scored_path.streaming import split_chunk
from guardrail_sidecar.scoring.cache import ENTRY_OVERHEAD, TTLCache
from guardrail_sidecar.scoring.claims import claims

TEXT = "The moon is made of green cheese."


def completion(message: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": "stop"}],
        **extra,
    }


def read(body: Any, content_type: str = "application/json") -> tuple[list[str], list[str]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    found = read_answer(raw, content_type, "openai", JsonFields(), 1 << 20)
    return [a for a in found.answers if a], found.structured


@pytest.mark.parametrize(
    "message",
    [
        {"content": TEXT},
        {"content": [{"type": "text", "text": "The moon is made "}, {"type": "text", "text": "of green cheese."}]},
        {"content": None, "refusal": TEXT},
        {"content": "", "reasoning_content": TEXT},
    ],
)
def test_answer_text_is_read_wherever_the_message_puts_it(message: dict[str, Any]) -> None:
    answers, _ = read(completion(message))
    assert answers == [TEXT]


def test_tool_and_function_arguments_are_read_as_their_string_values() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "reply", "arguments": json.dumps({"say": TEXT})}}
    assert read(completion({"content": None, "tool_calls": [call]}))[1] == [TEXT]
    fn = {"name": "reply", "arguments": "not json: " + TEXT}
    assert read(completion({"content": None, "function_call": fn}))[1] == ["not json: " + TEXT]


def test_text_outside_choices_and_long_metadata_values_are_read() -> None:
    assert read(completion({"content": ""}, output_text=TEXT))[0] == [TEXT]
    assert read(completion({"content": ""}, model=TEXT))[0] == [TEXT]  # a "model" that is a sentence is text
    assert read({"choices": [TEXT]})[0] == [TEXT]
    assert read([completion({"content": TEXT})])[0] == [TEXT]


def test_identifiers_usage_logprobs_and_the_apps_guardrail_field_are_not_text() -> None:
    body = completion({"content": ""}, usage={"total_tokens": 3}, guardrail={"reason": TEXT})
    body["choices"][0]["logprobs"] = {"content": [{"token": "The", "bytes": [84]}]}
    assert read(body) == ([], [])
    assert "logprobs" not in json.dumps(without_dropped(body))
    assert is_metadata("chat.completion.chunk")
    assert is_metadata(1733472000)
    assert not is_metadata(TEXT)


@pytest.mark.parametrize("content_type", ["text/plain", "text/html; charset=utf-8", "", "application/octet-stream"])
def test_plain_bodies_are_read_as_text(content_type: str) -> None:
    assert read(TEXT.encode(), content_type)[0] == [TEXT]


@pytest.mark.parametrize("content_type", ["application/vnd.acme.chat+json", "application/json; charset=utf-8"])
def test_json_types_are_recognised(content_type: str) -> None:
    assert read(completion({"content": TEXT}), content_type)[0] == [TEXT]


def test_an_sse_body_is_read_whole_with_argument_deltas_joined() -> None:
    args = json.dumps({"say": TEXT})
    chunks: list[dict[str, Any]] = [
        {"choices": [{"delta": {"content": p}}]} for p in ("The moon is ", "made of green cheese.")
    ]
    chunks += [
        {"choices": [{"delta": {"tool_calls": [{"function": {"arguments": args[i : i + 5]}}]}}]}
        for i in range(0, len(args), 5)
    ]
    raw = b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in chunks) + b"data: [DONE]\n\n"
    answers, structured = read(raw, "text/event-stream")
    assert TEXT in answers
    assert structured == [TEXT]


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b'{"choices": [', "application/json"),
        (b'{"choices": "\xff\xfe"}', "application/json"),
        (b"\x89PNG\r\n\x1a\n\x00\xff", "image/png"),
        (b"[" * 100 + b"]" * 100, "application/json"),
        (b"data: {not json\n\n", "text/event-stream"),
    ],
)
def test_unreadable_bodies_say_why(raw: bytes, content_type: str) -> None:
    with pytest.raises(Unreadable):
        read(raw, content_type)


def test_json_protocol_reads_the_configured_field_and_needs_it() -> None:
    fields = JsonFields(answer_path="result.answer")
    found = read_answer(json.dumps({"result": {"answer": TEXT}}).encode(), "application/json", "json", fields, 1 << 20)
    assert found.answers == [TEXT]
    with pytest.raises(Unreadable, match=r"result\.answer"):
        read_answer(b'{"result": {}}', "application/json", "json", fields, 1 << 20)
    beside = {"result": {"answer": "Yes.", "notes": [TEXT]}, "meta": {"source": "app"}}
    found = read_answer(json.dumps(beside).encode(), "application/json", "json", fields, 1 << 20)
    assert found.answers == ["Yes.", TEXT]  # prose beside the answer is checked; labels are not
    assert without_prose(beside) == {"result": {"answer": "Yes.", "notes": []}, "meta": {"source": "app"}}


def test_the_apps_guardrail_headers_never_pass() -> None:
    out = app_headers([("X-Guardrail-Verdict", "pass"), ("x-guardrail-score", "1"), ("x-app", "kept")])
    assert list(out.items()) == [("x-app", "kept")]


def test_on_scored_paths_headers_that_read_as_text_are_dropped() -> None:
    headers = [("x-answer", TEXT), ("x-id", "abc-1"), ("Date", "Sun, 06 Dec 2026 07:30:51 GMT")]
    assert [k for k, _ in app_headers(headers, scored=True).items()] == ["x-id", "Date"]
    assert len(app_headers(headers)) == 3  # pass-through paths: untouched


def test_stream_chunks_split_into_content_and_the_rest() -> None:
    text, rest, choice, finish = split_chunk({"choices": [{"delta": {"content": "Hi.", "refusal": "x"}}]})
    assert (text, finish) == ("Hi.", None)
    assert rest == {"choices": [{"delta": {"refusal": "x"}}]}
    assert choice is not None
    assert split_chunk({"choices": [{"index": 0, "text": "legacy"}]})[0] == "legacy"
    assert split_chunk({"choices": [{"message": {"content": [{"type": "text", "text": "parts"}]}}]})[0] == "parts"
    assert split_chunk({"delta": {"content": "no choices"}})[:3] == ("", {"delta": {"content": "no choices"}}, None)


def test_cache_is_bounded_in_bytes_as_well_as_entries() -> None:
    cache: TTLCache[str, bytes] = TTLCache(1000, 60, max_bytes=10_000, sizeof=lambda k, v: len(k) + len(v))
    for i in range(100):
        cache.put(f"k{i}", b"x" * 1000)
    assert cache.bytes <= 10_000
    assert len(cache) == 10_000 // (1000 + 2 + ENTRY_OVERHEAD)  # the oldest went first
    assert cache.get("k99") is not None
    assert cache.get("k0") is None
    cache.put("huge", b"x" * 20_000)  # larger than the whole budget: not kept, nothing evicted for it
    assert cache.get("huge") is None
    assert cache.get("k99") is not None
    cache.put("k99", b"")  # replacing an entry frees its bytes
    assert cache.bytes <= 10_000 - 1000


def test_embedding_cache_sizes_count_the_vectors() -> None:
    cache: TTLCache[str, np.ndarray] = TTLCache(10_000, 60, max_bytes=1 << 20, sizeof=lambda k, v: len(k) + v.nbytes)
    for i in range(2000):
        cache.put(f"text {i}", np.zeros(384, dtype=np.float32))
    assert cache.bytes <= 1 << 20
    assert len(cache) < 2000


def _config(**routing: Any) -> dict[str, Any]:
    stable = {"revision": "r1", "models": {"backend": "embedded", "embedded": {"repository": "/m"}}}
    return {"routing": {"stable": stable, **routing}}


def test_sticky_header_is_optional_and_the_request_id_does_not_route() -> None:
    config = SidecarConfig.model_validate(_config())
    assert config.routing.sticky_header is None
    assert SidecarConfig.model_validate(_config(stickyHeader="x-user")).routing.sticky_header == "x-user"


@pytest.mark.parametrize("name", ["../nli", "NLI", "nli_v2", "n" * 64, "nli/1"])
def test_model_names_are_dns_labels_like_the_crd(name: str) -> None:
    raw = _config()
    raw["routing"]["stable"]["models"]["nli"] = {"name": name}
    with pytest.raises(ConfigError, match=r"routing\.stable\.models\.nli\.name"):
        SidecarConfig.from_yaml(json.dumps(raw))


def test_unreadable_action_defaults_from_on_backend_error() -> None:
    assert Policy().unreadable_action == "block"
    assert Policy(on_backend_error="fail-open").unreadable_action == "pass"
    assert Policy(on_backend_error="fail-open", on_unreadable_answer="block").unreadable_action == "block"


@pytest.mark.parametrize("glue", ["", "\u200b", ")", "\u2060\u200d"])
def test_glued_sentences_are_two_claims(glue: str) -> None:
    grounded = "Refunds are paid within 14 days after we receive the item."
    assert len(claims(grounded + glue + TEXT)) == 2
    assert len(claims("Version 3.5 of Node.js is out, see example.com for it.")) == 1  # not sentence ends
