"""Class 2: answers the sidecar cannot read never pass unchecked (enforce, fail-closed).

Each hostile app case hides the MARKER sentence somewhere a client could read it. Where the text can be
extracted it is scored (and a GROUNDED answer in the same shape still passes: the check is not "block
everything"); where it cannot, `policy.onUnreadableAnswer` decides and the decision is counted.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from .conftest import GROUNDED, MARKER, Sidecar, StartSidecar, chat, error_of, events, leaks, metric

pytestmark = pytest.mark.integration

# Answers whose text the sidecar can read: scored, so the marker is blocked and a grounded answer passes.
READABLE = [
    "plain",
    "content-parts",
    "content-parts-split",
    "output-text-parts",
    "text-plain",
    "vendor-json",
    "octet-stream",
    "json-array",
    "json-string",
    "sse-to-non-stream",
    "tool-calls",
    "tool-calls-raw-args",
    "function-call",
    "refusal-field",
    "reasoning-field",
    "top-level-text",
    "legacy-text",
    "gzip-anyway",
]
# Readable, but no grounded twin makes sense (the marker rides beside other text, or in markup).
READABLE_MARKER_ONLY = ["text-html", "second-choice", "choice-not-object", "json-to-stream"]
UNREADABLE = ["invalid-json", "non-utf8", "unknown-encoding"]
STREAMED = [
    "plain",
    "stream-no-choices",
    "stream-usage-text",
    "stream-message-chunks",
    "stream-legacy-text",
    "stream-tool-calls",
    "stream-refusal-delta",
    "stream-content-parts",
    "stream-finish-with-text",
    "stream-choice-string",
    "stream-text-plain",
    "stream-unterminated",
    "stream-crlf-multiline",
    "stream-slow-drip",
    "stream-second-choice",
    "stream-after-done",
    "stream-gzip",
    "json-to-stream",
    "sse-to-non-stream",
]
STREAMED_GROUNDED = ["plain", "stream-message-chunks", "stream-legacy-text", "stream-content-parts", "stream-slow-drip"]


@pytest.mark.parametrize("case", READABLE + READABLE_MARKER_ONLY)
def test_marker_in_a_readable_answer_is_scored_and_blocked(sidecar: Sidecar, case: str) -> None:
    response = chat(sidecar, case)
    assert not leaks(response), response.text[:500]
    assert response.status_code == 200
    assert response.headers["x-guardrail-verdict"] == "block"
    assert response.headers["x-guardrail-reason"] == "ungrounded"
    assert response.json()["choices"][0]["finish_reason"] == "content_filter"


@pytest.mark.parametrize("case", READABLE)
def test_grounded_answer_in_the_same_shape_passes(sidecar: Sidecar, case: str) -> None:
    response = chat(sidecar, case, answer="grounded")
    assert response.status_code == 200
    assert response.headers["x-guardrail-verdict"] in ("pass", "flag"), response.text[:500]
    assert leaks(response, "14 days")  # the app's answer reached the client


@pytest.mark.parametrize("case", UNREADABLE)
def test_unreadable_answer_is_withheld_with_a_json_error_and_counted(sidecar: Sidecar, case: str) -> None:
    before = metric(sidecar.admin, "guardrail_unreadable_answers_total", revision="stable", action="block")
    response = chat(sidecar, case)
    assert not leaks(response)
    assert response.status_code == 502
    assert error_of(response)["code"] == "unreadable_answer"
    assert response.headers["x-guardrail-verdict"] == "block"
    after = metric(sidecar.admin, "guardrail_unreadable_answers_total", revision="stable", action="block")
    assert after == before + 1


@pytest.mark.parametrize("case", STREAMED)
def test_marker_in_a_streamed_answer_never_reaches_the_client(sidecar: Sidecar, case: str) -> None:
    response = chat(sidecar, case, stream=True)
    assert not leaks(response), response.text[:800]
    assert response.status_code == 200
    final = [e for e in events(response) if isinstance(e, dict) and "guardrail" in e]
    if final:  # an SSE answer ends with the verdict chunk
        assert final[-1]["guardrail"]["verdict"] == "block"
        assert final[-1]["guardrail"]["reason"] == "ungrounded"
    else:
        assert response.headers["x-guardrail-verdict"] == "block"


@pytest.mark.parametrize("case", STREAMED_GROUNDED)
def test_grounded_stream_in_the_same_shape_is_delivered(sidecar: Sidecar, case: str) -> None:
    response = chat(sidecar, case, answer="grounded", stream=True)
    chunks = [e for e in events(response) if isinstance(e, dict) and e.get("choices")]
    shown = "".join(e["choices"][0]["delta"].get("content") or "" for e in chunks)
    assert shown == GROUNDED
    verdicts = [e["guardrail"]["verdict"] for e in events(response) if isinstance(e, dict) and "guardrail" in e]
    assert verdicts in (["pass"], ["flag"])


def test_unreadable_stream_event_ends_the_stream_with_a_reason_code(sidecar: Sidecar) -> None:
    before = metric(sidecar.admin, "guardrail_unreadable_answers_total", revision="stable", action="block")
    response = chat(sidecar, "stream-invalid-json", stream=True)
    assert not leaks(response)
    final = events(response)[-1]
    assert final["choices"][0]["finish_reason"] == "content_filter"
    assert final["guardrail"]["reason"] == "unreadable_answer"
    assert metric(sidecar.admin, "guardrail_unreadable_answers_total", revision="stable", action="block") > before


@pytest.mark.parametrize("status", [400, 401, 404, 429, 500, 502, 503, 301, 302])
@pytest.mark.parametrize("case", ["status", "status-text"])
def test_error_status_gets_the_sidecars_json_error_never_the_apps_body(
    sidecar: Sidecar, case: str, status: int
) -> None:
    response = chat(sidecar, case, headers={"x-hostile-status": str(status)})
    assert response.status_code == status
    assert error_of(response)["code"] == "upstream_error"
    assert not leaks(response)
    for detail in ("10.7.3.9", "/srv/app", "Traceback"):
        assert not leaks(response, detail)
    assert "location" not in response.headers


def test_error_status_on_a_stream_gets_a_json_error(sidecar: Sidecar) -> None:
    response = chat(sidecar, "stream-status", stream=True, headers={"x-hostile-status": "500"})
    assert response.status_code == 500
    assert error_of(response)["code"] == "upstream_error"
    assert not leaks(response)
    assert not leaks(response, "10.7.3.9")


@pytest.mark.parametrize("stream", [False, True])
def test_the_apps_own_guardrail_headers_are_stripped(sidecar: Sidecar, stream: bool) -> None:
    response = chat(sidecar, "guardrail-headers", answer="grounded", stream=stream)
    assert response.headers["x-guardrail-revision"] == "stable"
    assert "forged" not in str(response.headers).lower()
    assert response.headers.get_list("x-guardrail-verdict") in ([], [response.headers.get("x-guardrail-verdict")])
    assert "x-guardrail-score" not in response.headers or response.headers["x-guardrail-score"] != "1.0"
    blocked = chat(sidecar, "guardrail-headers", stream=stream)
    assert not leaks(blocked)
    assert blocked.headers.get("x-guardrail-score") != "1.0"


def test_the_apps_own_guardrail_field_is_overwritten(sidecar: Sidecar) -> None:
    response = chat(sidecar, "guardrail-field")
    assert not leaks(response)
    assert response.json()["guardrail"]["revision"] == "stable"


def test_passthrough_paths_strip_the_apps_guardrail_headers(sidecar: Sidecar) -> None:
    response = chat(sidecar, "guardrail-headers", path="/v1/other")  # not a scored path: passed through
    assert "x-guardrail-verdict" not in response.headers
    assert "x-guardrail-revision" not in response.headers


def test_on_unreadable_answer_pass_forwards_it_flagged_and_counted(start_sidecar: StartSidecar) -> None:
    lenient = start_sidecar({"routing": {"stable": {"policy": {"onUnreadableAnswer": "pass"}}}}, name="lenient")
    response = chat(lenient, "invalid-json", answer="grounded")
    assert response.status_code == 200
    assert response.headers["x-guardrail-verdict"] == "flag"
    assert response.headers["x-guardrail-reason"] == "unreadable_answer"
    assert metric(lenient.admin, "guardrail_unreadable_answers_total", revision="stable", action="pass") >= 1
    readable = chat(lenient, "content-parts")  # only unreadable answers are passed: readable ones are scored
    assert not leaks(readable)


def test_an_answer_in_a_custom_header_is_dropped(sidecar: Sidecar) -> None:
    response = chat(sidecar, "header-text")  # the marker in `x-answer`, a grounded body
    assert not leaks(response)
    assert response.headers["x-guardrail-verdict"] in ("pass", "flag")
    assert response.headers["x-trace"] == "abc-123"  # identifier-like headers are kept


@pytest.mark.parametrize("case", ["duplicate-keys", "duplicate-keys-array"])
def test_a_passing_answer_is_forwarded_as_the_sidecar_read_it(sidecar: Sidecar, case: str) -> None:
    """Two `content` keys, the marker first: the client gets the one value the sidecar checked, re-serialised,
    never the raw bytes a first-key parser would read differently."""
    response = chat(sidecar, case, answer="grounded")
    assert not leaks(response)
    assert response.headers["x-guardrail-verdict"] in ("pass", "flag")
    assert leaks(response, "14 days")


def test_sse_id_event_and_comment_lines_never_reach_the_client(sidecar: Sidecar) -> None:
    """The marker rides only in `id:`, `event:` and comment lines around text-free chunks: the sidecar
    re-encodes what it forwards, so those lines go nowhere, and the (checked) text still arrives."""
    response = chat(sidecar, "stream-sse-fields", stream=True)
    assert not leaks(response)
    chunks = [e for e in events(response) if isinstance(e, dict) and e.get("choices")]
    assert "".join(e["choices"][0]["delta"].get("content") or "" for e in chunks) == "Hello."


JSON_FIELDS = {"questionPath": "question", "contextPath": "context", "answerPath": "result.answer"}


@pytest.fixture(scope="module")
def json_sidecar(start_sidecar: StartSidecar) -> Sidecar:
    return start_sidecar({"proxy": {"protocol": "json", "jsonFields": JSON_FIELDS}}, name="json")


@pytest.mark.parametrize(
    ("case", "status"), [("json-answer", 200), ("json-answer-beside", 200), ("json-answer-elsewhere", 502)]
)
def test_json_protocol_checks_the_answer_field_and_prose_beside_it(
    json_sidecar: Sidecar, case: str, status: int
) -> None:
    response = chat(json_sidecar, case, body={"question": "How do refunds work?"}, path="/ask")
    assert not leaks(response)
    assert response.status_code == status
    assert response.headers["x-guardrail-verdict"] == "block"
    if status == 200:
        assert response.json()["meta"] == {"source": "hostile"}  # labels of the app's body are kept


def test_json_protocol_passes_a_grounded_answer_with_its_labels(json_sidecar: Sidecar) -> None:
    response = chat(
        json_sidecar, "json-answer", answer="grounded", body={"question": "How do refunds work?"}, path="/ask"
    )
    assert response.headers["x-guardrail-verdict"] in ("pass", "flag")
    assert response.json()["result"]["answer"] == GROUNDED
    assert response.json()["meta"] == {"source": "hostile"}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("glue", ["", "\u200b", ")"])
def test_a_grounded_sentence_cannot_carry_a_glued_one(sidecar: Sidecar, stream: bool, glue: str) -> None:
    """ "...returned item.Our headquarters...": without the space, the two sentences were one claim, and the
    grounded half lifted the marker above the threshold."""
    answer = quote(GROUNDED + glue + MARKER)
    response = chat(sidecar, "plain", answer=answer, stream=stream)
    assert not leaks(response)
