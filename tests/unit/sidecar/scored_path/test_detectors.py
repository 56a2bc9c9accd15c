"""spec.detectors through the real proxy (in-process, fake app, deterministic scorer): requests blocked or
redacted before the app sees them, answers redacted or withheld in JSON and in streams, findings counted per entity
type, and never a found value in a log line."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from guardrail_contract.detectors import Detector
from guardrail_sidecar.detectors.policy import SidePolicy
from guardrail_sidecar.scored_path import sse
from tests.support.fake_scorer import FakeScorer
from tests.unit.sidecar.server.test_proxy import Stack, answer, chat, sse_events
from tests.unit.sidecar.server.test_proxy import stack as stack  # the in-process proxy fixture

EMAIL, CARD = "jane.doe@example.com", "4111 1111 1111 1111"
FACTS = f"Refunds are paid within 14 days. Write to {EMAIL} about refunds."
GROUNDED = f"Refunds are paid within 14 days. Write to {EMAIL} about refunds."


def revision(*detectors: dict[str, Any], policy: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "stable": {
            "revision": "stable1",
            "policy": policy or {},
            "models": {"backend": "embedded", "embedded": {"repository": "/unused"}},
            "detectors": list(detectors),
        }
    }


def pii(action: str, **extra: Any) -> dict[str, Any]:
    return {"name": f"pii-{action}", "kind": "pii", "action": action, **extra}


def ask(question: str = "How long do refunds take?", stream: bool = False) -> dict[str, Any]:
    body = chat(question, stream)
    body["messages"][0]["content"] = FACTS
    return body


def content(body: dict[str, Any]) -> str:
    return str(body["choices"][0]["message"]["content"])


async def findings(admin: Any) -> list[str]:
    text = await (await admin.get("/metrics")).text()
    return [line for line in text.splitlines() if line.startswith("guardrail_detector_findings_total{")]


async def test_a_json_answer_is_redacted_after_it_was_scored_on_the_apps_text(stack: Stack) -> None:
    client, admin, _ = await stack(routing=revision(pii("redact")))
    response = await client.post("/v1/chat/completions", json=ask(), headers=answer(GROUNDED))
    body = await response.json()
    assert response.headers["x-guardrail-verdict"] == "pass"  # grounded: scored before redaction
    assert content(body) == "Refunds are paid within 14 days. Write to [EMAIL] about refunds."
    assert response.headers["x-guardrail-detectors"] == "pii-redact"
    assert EMAIL not in json.dumps(body)  # the citation (the system message) is redacted too
    assert body["guardrail"]["citations"][0]["text"] == FACTS.replace(EMAIL, "[EMAIL]")
    assert await findings(admin) == [
        'guardrail_detector_findings_total{action="redact",detector="pii-redact",entity="email",'
        'revision="stable1",side="answer"} 1.0',
        'guardrail_detector_findings_total{action="redact",detector="pii-redact",entity="email",'
        'revision="stable1",side="citations"} 1.0',
    ]


async def test_a_block_detector_withholds_the_answer(stack: Stack) -> None:
    client, admin, _ = await stack(routing=revision(pii("block"), policy={"refusalMessage": "Withheld."}))
    response = await client.post("/v1/chat/completions", json=ask(), headers=answer(GROUNDED))
    body = await response.json()
    assert (response.headers["x-guardrail-verdict"], response.headers["x-guardrail-reason"]) == (
        "block",
        "pii_detected",
    )
    assert content(body) == "Withheld."
    assert EMAIL not in json.dumps(body)
    assert 'action="block"' in (await findings(admin))[0]


async def test_monitor_mode_passes_the_answer_and_flags_it(stack: Stack) -> None:
    client, _, _ = await stack(routing=revision(pii("block"), policy={"mode": "monitor"}))
    response = await client.post("/v1/chat/completions", json=ask(), headers=answer(GROUNDED))
    assert content(await response.json()) == GROUNDED
    assert response.headers["x-guardrail-detectors"] == "pii-block"


async def test_a_request_with_a_card_number_is_refused_before_the_app(stack: Stack) -> None:
    client, admin, _ = await stack(routing=revision(pii("block", appliesTo="request", entities=["payment_card"])))
    response = await client.post(
        "/v1/chat/completions", json=ask(f"Can I pay with {CARD}?"), headers={"x-request-id": "r-card"}
    )
    assert response.headers["x-guardrail-reason"] == "pii_detected"
    assert "r-card" not in await (await client.get("/_seen")).json()  # the app never saw it
    passing = await client.post("/v1/chat/completions", json=ask(), headers=answer(GROUNDED))
    assert content(await passing.json()) == GROUNDED  # the email is not a payment card; answers are not checked
    assert 'side="request"' in (await findings(admin))[0]


async def test_a_request_is_redacted_before_it_is_forwarded(stack: Stack) -> None:
    scorer = FakeScorer()
    fields = {"questionPath": "question", "contextPath": "context", "answerPath": "body"}
    client, _, _ = await stack(
        scorer=scorer,
        routing=revision(pii("redact", appliesTo="request"), policy={"threshold": 0, "softLimit": 0}),
        proxy={"protocol": "json", "jsonFields": fields, "scoredPaths": ["/echo"]},
    )
    question = f"My card is {CARD} and my mail {EMAIL}, can you help?"
    response = await client.post("/echo", json={"question": question, "model": "m"})
    forwarded = json.loads((await response.json())["body"])  # the echo app answers with what it received
    assert forwarded == {"question": "My card is [PAYMENT_CARD] and my mail [EMAIL], can you help?", "model": "m"}
    assert all(CARD not in t and EMAIL not in t for t in scorer.injection_texts)  # checks read the redacted text


@pytest.mark.parametrize("step", [1, 2, 3, 5, 7, 11, 64])
async def test_a_stream_is_redacted_however_the_app_splits_it(stack: Stack, step: int) -> None:
    client, _, _ = await stack(routing=revision(pii("redact")))
    headers = answer(GROUNDED) | {"x-fake-chunk": str(step)}
    response = await client.post("/v1/chat/completions", json=ask(stream=True), headers=headers)
    events = await sse_events(response)
    shown = "".join(e["choices"][0]["delta"].get("content", "") for e in events if e.get("choices"))
    assert shown == "Refunds are paid within 14 days. Write to [EMAIL] about refunds."
    final = next(e for e in events if "guardrail" in e)
    assert (final["choices"][0]["finish_reason"], final["guardrail"]["verdict"]) == ("stop", "pass")


@pytest.mark.parametrize("step", [1, 4, 64])
async def test_a_blocked_stream_ends_before_the_finding(stack: Stack, step: int) -> None:
    client, _, _ = await stack(routing=revision(pii("block")))
    headers = answer(GROUNDED) | {"x-fake-chunk": str(step)}
    response = await client.post("/v1/chat/completions", json=ask(stream=True), headers=headers)
    text = await response.text()
    assert EMAIL not in text
    assert "jane" not in text
    events = await sse_events(response)
    final = next(e for e in events if "guardrail" in e)
    assert final["choices"][0]["finish_reason"] == "content_filter"
    assert final["guardrail"]["reason"] == "pii_detected"


async def test_found_values_never_reach_a_log_line(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client, _, _ = await stack(routing=revision(pii("block"), pii("redact", appliesTo="request")))
    await client.post("/v1/chat/completions", json=ask(f"Pay with {CARD}?"), headers=answer(GROUNDED))
    logged = caplog.text + " ".join(str(getattr(r, "fields", "")) for r in caplog.records)
    assert "email" in logged  # the entity type is logged ...
    assert EMAIL not in logged  # ... the value never
    assert CARD not in logged
    assert "4111" not in logged


def test_the_sse_parser_and_the_stream_filter_agree_at_every_byte_split() -> None:
    """The sidecar's own SSE parser fed the app's bytes cut at every position (inside multi-byte characters too),
    each event's delta content through the answer-side filter: always the whole text's redaction."""
    text = f"Zoë wrote: mail {EMAIL}, card {CARD}, IBAN DE89 3704 0044 0532 0130 00 — ok."
    events = b"".join(
        sse.encode({"choices": [{"index": 0, "delta": {"content": text[i : i + 9]}}]}) for i in range(0, len(text), 9)
    )
    policy = SidePolicy([Detector.model_validate(pii("redact"))], "answer")
    expected = policy.apply_text(text)[0]
    assert expected == "Zoë wrote: mail [EMAIL], card [PAYMENT_CARD], IBAN [IBAN] — ok."
    for cut in range(len(events) + 1):
        parser, stream, out = sse.EventParser(1 << 20), policy.stream(), []
        for chunk in (events[:cut], events[cut:]):
            for event in parser.feed(chunk):
                assert event.data is not None
                out.append(stream.feed(json.loads(event.data)["choices"][0]["delta"]["content"]))
        out.append(stream.finish())
        assert "".join(p or "" for p in out) == expected, f"cut at byte {cut}"
