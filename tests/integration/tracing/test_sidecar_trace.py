"""A blocked streamed answer, traced: the sidecar exports its spans to a real OpenTelemetry Collector, and
the trace is checked span by span (names, kinds, parent/child, attributes), with the W3C `traceparent` from
the client to the app, no user text on any span, and the trace id as an exemplar on the latency histogram.
Without the OTEL_* variables nothing is traced and the client's `traceparent` reaches the app unchanged."""

from __future__ import annotations

import collections
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from guardrail_otel.collector import Collector, Span
from tests.integration.adversarial.hostile_app import GROUNDED, MARKER, MARKER_TOKEN
from tests.integration.sidecar.conftest import COLLECTION, Calibration
from tests.integration.tracing import traced_app
from tests.integration.tracing.conftest import StartSidecar, TracedApp

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
QUESTION = "How do refunds work? My order number is ORD-4711-QX."
OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def ask(url: str, traceparent: str) -> httpx.Response:
    body = {
        "model": "gpt-test",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": QUESTION}],
    }
    headers = {"traceparent": traceparent, "tracestate": "vendor=opaque"}
    return httpx.post(url + "/v1/chat/completions", json=body, headers=headers, timeout=60)


def events(response: httpx.Response) -> list[dict[str, Any]]:
    out = []
    for block in response.text.split("\n\n"):
        data = block.removeprefix("data: ").strip()
        if data and data != "[DONE]":
            out.append(json.loads(data))
    return out


def children(spans: list[Span], parent: Span) -> list[Span]:
    return sorted((s for s in spans if s.parent_span_id == parent.span_id), key=lambda s: s.start_ns)


def test_a_blocked_stream_is_traced_span_by_span(
    collector: Collector,
    app: TracedApp,
    start_traced_sidecar: StartSidecar,
    calibration_and_kb: tuple[Calibration, Path],
) -> None:
    assert (traced_app.GROUNDED, traced_app.MARKER) == (GROUNDED, MARKER)  # what the threshold was set between
    threshold = round(calibration_and_kb[0].threshold, 6)
    sidecar = start_traced_sidecar(collector.otel_env("guardrail-sidecar"))
    app.reset()

    response = ask(sidecar.url, f"00-{TRACE}-{CLIENT_SPAN}-01")

    # The client got the grounded sentence, then the block.
    assert response.status_code == 200
    chunks = events(response)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c.get("choices"))
    assert GROUNDED in text
    assert MARKER_TOKEN not in response.text
    assert chunks[-1]["choices"][0]["finish_reason"] == "content_filter"
    assert chunks[-1]["guardrail"]["verdict"] == "block"

    spans = collector.wait_for_spans(lambda found: any(s.trace_id == TRACE and s.kind == "SERVER" for s in found))
    trace = [s for s in spans if s.trace_id == TRACE]
    by_id = {s.span_id: s for s in trace}
    assert {s.service for s in trace} == {"guardrail-sidecar"}

    # The server span continues the client's trace.
    (server,) = [s for s in trace if s.kind == "SERVER"]
    assert server.name == "POST /v1/chat/completions"
    assert server.parent_span_id == CLIENT_SPAN
    assert server.attributes["http.request.method"] == "POST"
    assert server.attributes["http.route"] == "/v1/chat/completions"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["guardrail.verdict"] == "block"
    assert server.attributes["guardrail.revision"] == "stable"
    assert server.status == "UNSET"  # a block is the guardrail working, not an error

    # Its children, in order: the injection check, the call to the app, the scoring rounds, the verdict.
    direct = children(trace, server)
    names = [s.name for s in direct]
    assert names[:2] == ["guardrail.injection_check", "chat gpt-test"]
    assert names[-1] == "guardrail.verdict"
    rounds = [s for s in direct if s.name == "guardrail.scoring"]
    assert len(rounds) >= 2
    assert collections.Counter(names) == collections.Counter(
        {"guardrail.injection_check": 1, "chat gpt-test": 1, "guardrail.scoring": len(rounds), "guardrail.verdict": 1}
    )
    assert all(s.parent_span_id in by_id or s is server for s in trace)  # one tree, nothing dangling

    injection = direct[0]
    assert injection.attributes["guardrail.injection.detected"] is False
    assert injection.attributes["guardrail.injection.score"] < injection.attributes["guardrail.injection.threshold"]
    assert injection.attributes["guardrail.injection.windows"] >= 1

    chat = direct[1]
    assert chat.kind == "CLIENT"
    assert chat.attributes["gen_ai.operation.name"] == "chat"
    assert chat.attributes["gen_ai.provider.name"] == "openai"
    assert chat.attributes["gen_ai.request.model"] == "gpt-test"
    assert chat.attributes["gen_ai.response.model"] == "scripted-1"
    assert chat.attributes["gen_ai.response.id"] == "chatcmpl-traced"
    assert chat.attributes["gen_ai.usage.input_tokens"] == traced_app.USAGE["prompt_tokens"]
    assert chat.attributes["gen_ai.usage.output_tokens"] == traced_app.USAGE["completion_tokens"]
    assert chat.attributes["server.port"] == app.port
    assert chat.attributes["http.response.status_code"] == 200

    # The app was called with the sidecar's own span as its parent, in the client's trace.
    assert app.seen() == [
        {"traceparent": f"00-{TRACE}-{chat.span_id}-01", "tracestate": "vendor=opaque", "baggage": None}
    ]

    # Each scoring round: retrieval from the knowledge base, then the NLI model; the grounded sentence passed,
    # the marker sentence blocked.
    for scoring in rounds:
        assert [s.name for s in children(trace, scoring)] == [f"retrieval {COLLECTION}", "guardrail.nli"]
        retrieval, nli = children(trace, scoring)
        assert retrieval.attributes["gen_ai.operation.name"] == "retrieval"
        assert retrieval.attributes["gen_ai.data_source.id"] == COLLECTION
        assert retrieval.attributes["gen_ai.request.top_k"] == 3
        assert retrieval.attributes["guardrail.retrieval.passages"] >= 1
        assert nli.attributes["guardrail.nli.pairs"] >= 1
        assert scoring.attributes["guardrail.claims"] >= 1
        assert scoring.attributes["guardrail.revision"] == "stable"
    assert rounds[0].attributes["guardrail.verdict"] == "pass"
    assert rounds[-1].attributes["guardrail.verdict"] == "block"
    assert rounds[-1].attributes["guardrail.score"] < threshold

    verdict = direct[-1]
    assert verdict.attributes == {
        "guardrail.verdict": "block",
        "guardrail.score": rounds[-1].attributes["guardrail.score"],
        "guardrail.revision": "stable",
        "guardrail.reason": "ungrounded",
        "guardrail.kind": "stream",
        "guardrail.stream.stopped": True,
        "guardrail.policy.mode": "enforce",
        "guardrail.policy.threshold": threshold,
        "guardrail.policy.soft_limit": threshold,
        "guardrail.policy.on_backend_error": "fail-closed",
        "guardrail.backend_error": False,
        "guardrail.claims": rounds[-1].attributes["guardrail.claims"],  # the round that stopped the stream
        "guardrail.claims.failed": 1,
        "gen_ai.evaluation.name": "guardrail",
        "gen_ai.evaluation.score.value": rounds[-1].attributes["guardrail.score"],
        "gen_ai.evaluation.score.label": "block",
    }

    # No user text anywhere in what the collector received: not the question, not the answer.
    exported = collector.output.read_text().lower()
    for text in (QUESTION, "ORD-4711-QX", "refunds are paid", "original payment method", MARKER_TOKEN, "headquarters"):
        assert text.lower() not in exported

    # The latency histograms carry the trace as an exemplar (OpenMetrics exposition).
    metrics = httpx.get(sidecar.admin + "/metrics", headers={"Accept": OPENMETRICS}, timeout=10)
    assert metrics.headers["content-type"].startswith("application/openmetrics-text")
    answered = [
        line
        for line in metrics.text.splitlines()
        if line.startswith("guardrail_answer_duration_seconds_bucket") and "#" in line
    ]
    assert any(f'trace_id="{TRACE}"' in line for line in answered), answered
    exemplars = [
        line
        for line in metrics.text.splitlines()
        if line.startswith("guardrail_added_latency_seconds_bucket") and "#" in line
    ]
    assert any(f'trace_id="{TRACE}"' in line for line in exemplars), exemplars


def test_without_otel_variables_nothing_is_traced_and_traceparent_passes_unchanged(
    collector: Collector, app: TracedApp, start_traced_sidecar: StartSidecar
) -> None:
    sidecar = start_traced_sidecar({})  # the collector is up, but this sidecar is not told about it
    app.reset()
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    given = f"00-{trace_id}-b7ad6b7169203331-01"

    response = ask(sidecar.url, given)

    assert response.status_code == 200
    assert events(response)[-1]["guardrail"]["verdict"] == "block"
    assert app.seen() == [{"traceparent": given, "tracestate": "vendor=opaque", "baggage": None}]
    time.sleep(1.0)  # several export intervals
    assert [s for s in collector.spans() if s.trace_id == trace_id] == []
    metrics = httpx.get(sidecar.admin + "/metrics", headers={"Accept": OPENMETRICS}, timeout=10).text
    assert "trace_id=" not in metrics


def test_a_blocked_messages_stream_is_traced_as_an_anthropic_call(
    collector: Collector, app: TracedApp, start_traced_sidecar: StartSidecar
) -> None:
    sidecar = start_traced_sidecar(collector.otel_env("guardrail-sidecar"))
    app.reset()
    trace_id = "5bf92f3577b34da6a3ce929d0e0e4737"
    body = {
        "model": "claude-test",
        "max_tokens": 64,
        "stream": True,
        "messages": [{"role": "user", "content": QUESTION}],
    }
    headers = {"traceparent": f"00-{trace_id}-{CLIENT_SPAN}-01", "anthropic-version": "2023-06-01"}

    response = httpx.post(sidecar.url + "/v1/messages", json=body, headers=headers, timeout=60)

    assert response.status_code == 200
    assert GROUNDED.split()[0] in response.text
    assert MARKER_TOKEN not in response.text
    spans = collector.wait_for_spans(lambda found: any(s.trace_id == trace_id and s.kind == "SERVER" for s in found))
    trace = [s for s in spans if s.trace_id == trace_id]
    (server,) = [s for s in trace if s.kind == "SERVER"]
    assert server.name == "POST /v1/messages"
    assert server.parent_span_id == CLIENT_SPAN
    direct = {s.name: s for s in children(trace, server)}
    chat = direct["chat claude-test"]
    assert chat.attributes["gen_ai.provider.name"] == "anthropic"
    assert chat.attributes["gen_ai.response.model"] == "scripted-claude"
    assert chat.attributes["gen_ai.response.id"] == "msg_traced"
    assert chat.attributes["gen_ai.usage.input_tokens"] == traced_app.USAGE["prompt_tokens"]
    # The stream was cut at the marker sentence: the app's message_delta (final usage, stop reason) was never read.
    assert "gen_ai.response.finish_reasons" not in chat.attributes
    verdict = direct["guardrail.verdict"]
    assert verdict.attributes["guardrail.verdict"] == "block"
    assert verdict.attributes["guardrail.kind"] == "stream"
    assert verdict.attributes["guardrail.stream.stopped"] is True
    assert app.seen() == [{"traceparent": f"00-{trace_id}-{chat.span_id}-01", "tracestate": None, "baggage": None}]
