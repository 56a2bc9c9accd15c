"""The sidecar's tracing helpers against the SDK: the server span continues the client's trace, the app gets
the current span as its parent, answer metadata (never text) lands on the upstream call's span, user text only
with the explicit setting, exemplars only inside a sampled span, and nothing at all when tracing is off."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDict
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from guardrail_contract.sidecar_config import Policy, Proxy
from guardrail_sidecar.observability import tracing
from guardrail_sidecar.scoring.verdict import Assessment, ClaimScore

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"


def _use(capture: bool) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use(provider, capture_content=capture)
    yield exporter
    tracing.use(None)


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    yield from _use(capture=False)


@pytest.fixture
def exported_with_text() -> Iterator[InMemorySpanExporter]:
    yield from _use(capture=True)


def attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


async def _client(handler: Any) -> TestClient[web.Request, web.Application]:
    app = web.Application(
        middlewares=[tracing.server_span_middleware(lambda r: "/v1/x" if r.path == "/v1/x" else None)]
    )
    app.router.add_route("*", "/{tail:.*}", handler)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def _echo_upstream_headers(request: web.Request) -> web.Response:
    """What the sidecar would send the app: the forwarded headers with the trace injected, and the exemplar."""
    headers: CIMultiDict[str] = CIMultiDict(request.headers)
    tracing.inject(headers)
    status = int(request.query.get("status", "200"))
    return web.json_response({"traceparent": headers.get("traceparent"), "exemplar": tracing.exemplar()}, status=status)


async def test_the_server_span_continues_the_clients_trace_and_is_the_apps_parent(
    exported: InMemorySpanExporter,
) -> None:
    client = await _client(_echo_upstream_headers)
    try:
        response = await client.post("/v1/x?q=1", headers={"traceparent": f"00-{TRACE}-{CLIENT_SPAN}-01"})
        seen = await response.json()
        await client.get("/other?status=503")
    finally:
        await client.close()
    scored, other = exported.get_finished_spans()
    assert scored.name == "POST /v1/x"
    assert scored.parent is not None
    assert format(scored.parent.span_id, "016x") == CLIENT_SPAN
    assert format(scored.context.trace_id, "032x") == TRACE
    assert attributes(scored)["http.route"] == "/v1/x"
    assert attributes(scored)["http.response.status_code"] == 200
    assert seen["traceparent"] == f"00-{TRACE}-{format(scored.context.span_id, '016x')}-01"
    assert seen["exemplar"] == {"trace_id": TRACE, "span_id": format(scored.context.span_id, "016x")}
    assert other.name == "GET"  # no route: the method only (span names stay low-cardinality)
    assert other.parent is None
    assert other.status.status_code.name == "ERROR"


async def test_tracing_off_leaves_the_clients_traceparent_alone() -> None:
    tracing.use(None)
    client = await _client(_echo_upstream_headers)
    try:
        given = f"00-{TRACE}-{CLIENT_SPAN}-01"
        seen = await (await client.post("/v1/x", headers={"traceparent": given})).json()
    finally:
        await client.close()
    assert seen == {"traceparent": given, "exemplar": None}
    with tracing.scoring("r1", ["a claim"]) as span:
        assert not span.is_recording()


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        (  # OpenAI chat completion chunks: the usage chunk comes last
            [
                {"id": "c1", "model": "gpt-x", "choices": [{"index": 0, "delta": {"content": "Hi"}}]},
                {"id": "c1", "model": "gpt-x", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                {"id": "c1", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 7}},
            ],
            {"api": "chat", "provider": "openai", "id": "c1", "model": "gpt-x", "finish": ("stop",), "in": 5, "out": 7},
        ),
        (  # OpenAI Responses: response.completed carries the response
            [
                {"type": "response.output_text.delta", "delta": "Hi"},
                {
                    "type": "response.completed",
                    "response": {"id": "r1", "model": "gpt-y", "usage": {"input_tokens": 3, "output_tokens": 4}},
                },
            ],
            {"api": "responses", "provider": "openai", "id": "r1", "model": "gpt-y", "in": 3, "out": 4},
        ),
        (  # Anthropic Messages: message_start, then message_delta with the stop reason and output tokens
            [
                {"type": "message_start", "message": {"id": "m1", "model": "claude-z", "usage": {"input_tokens": 9}}},
                {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
            ],
            {
                "api": "messages",
                "provider": "anthropic",
                "id": "m1",
                "model": "claude-z",
                "finish": ("end_turn",),
                "in": 9,
                "out": 2,
            },
        ),
    ],
)
def test_answer_metadata_goes_on_the_upstream_call_but_never_its_text(
    exported: InMemorySpanExporter, events: list[dict[str, Any]], expected: dict[str, Any]
) -> None:
    call = tracing.UpstreamCall.start("asked-model", Proxy(upstream_port=8080), expected["api"])
    with call.sending():
        pass
    for event in events:
        tracing.note_answer(event)
    call.end(200)
    (span,) = exported.get_finished_spans()
    found = attributes(span)
    assert span.name == "chat asked-model"
    assert span.kind.name == "CLIENT"
    assert found["gen_ai.provider.name"] == expected["provider"]
    assert found["gen_ai.operation.name"] == "chat"
    assert found["gen_ai.request.model"] == "asked-model"
    assert found["gen_ai.response.id"] == expected["id"]
    assert found["gen_ai.response.model"] == expected["model"]
    assert found["gen_ai.usage.input_tokens"] == expected["in"]
    assert found["gen_ai.usage.output_tokens"] == expected["out"]
    if "finish" in expected:
        assert found["gen_ai.response.finish_reasons"] == expected["finish"]
    assert "Hi" not in repr(found)


def test_a_failed_send_ends_the_upstream_call_as_an_error(exported: InMemorySpanExporter) -> None:
    call = tracing.UpstreamCall.start("m", Proxy(upstream_port=8080))
    with pytest.raises(ConnectionError), call.sending():
        raise ConnectionError("refused")
    (span,) = exported.get_finished_spans()
    assert span.status.status_code.name == "ERROR"
    assert [e.name for e in span.events] == ["exception"]


FAILING = Policy().threshold / 2  # below the default threshold, whatever it is chosen to be
ASSESSMENT = Assessment("block", FAILING, (ClaimScore("The moon is for sale.", FAILING, None),), "claim failed: moon")


def test_no_user_text_on_spans_by_default(exported: InMemorySpanExporter) -> None:
    with tracing.scoring("r1", ["The moon is for sale."]):
        tracing.verdict(ASSESSMENT, "r1", Policy(), "answer")
    spans = exported.get_finished_spans()
    assert "moon" not in repr([attributes(s) for s in spans])
    verdict = next(s for s in spans if s.name == "guardrail.verdict")
    assert attributes(verdict)["guardrail.claims.failed"] == 1
    assert attributes(verdict)["gen_ai.evaluation.score.label"] == "block"


def test_user_text_only_with_the_explicit_setting(exported_with_text: InMemorySpanExporter) -> None:
    with tracing.scoring("r1", ["The moon is for sale."]):
        tracing.verdict(ASSESSMENT, "r1", Policy(), "answer")
    by_name = {s.name: attributes(s) for s in exported_with_text.get_finished_spans()}
    assert by_name["guardrail.scoring"]["guardrail.claims.text"] == ("The moon is for sale.",)
    assert by_name["guardrail.verdict"]["gen_ai.evaluation.explanation"] == "claim failed: moon"


def test_legacy_completions_and_the_json_protocol_name_their_operation_and_provider(
    exported: InMemorySpanExporter,
) -> None:
    tracing.UpstreamCall.start("davinci", Proxy(upstream_port=8080), "completions").end(200)
    tracing.UpstreamCall.start("m", Proxy(upstream_port=8080, protocol="json")).end(200)
    completions, json_app = (attributes(s) | {"name": s.name} for s in exported.get_finished_spans())
    assert completions["name"] == "text_completion davinci"
    assert completions["gen_ai.operation.name"] == "text_completion"
    assert "gen_ai.provider.name" not in json_app  # an app with its own JSON shape: no provider claimed
