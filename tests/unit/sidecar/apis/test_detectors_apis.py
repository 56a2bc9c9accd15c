"""spec.detectors on the Responses and Messages APIs (streamed and not), through the real proxy in front of the
scripted app that speaks each API: the client never gets the found value, and the events stay well formed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient, TestServer

from guardrail_contract.sidecar_config import SidecarConfig
from guardrail_sidecar.observability.metrics import Metrics
from guardrail_sidecar.revisions.served import ServedRevisions
from guardrail_sidecar.server.app import build_proxy_app
from guardrail_sidecar.server.proxy import ReverseProxy, Upstream
from tests.integration.protocols.scripted_app import build_app as build_scripted_app
from tests.support.fake_scorer import FakeScorer

EMAIL = "jane.doe@example.com"
FACTS = f"Refunds are paid within 14 days. Write to {EMAIL} about refunds."
Client = Callable[[str], Any]


@pytest.fixture
async def guarded() -> AsyncIterator[Client]:
    servers: list[Any] = []

    async def make(action: str) -> TestClient:  # type: ignore[type-arg]
        app = TestServer(build_scripted_app())
        await app.start_server()
        detectors = [{"name": "pii", "kind": "pii", "action": action}]
        config = SidecarConfig.model_validate(
            {
                "proxy": {"listenPort": 1, "upstreamPort": app.port},
                "routing": {
                    "stable": {
                        "revision": "r1",
                        "models": {"backend": "embedded", "embedded": {"repository": "/unused"}},
                        "detectors": detectors,
                    }
                },
            }
        )
        metrics, scorer = Metrics(), FakeScorer()
        served = ServedRevisions(config, metrics, make_scorer=lambda _: scorer)
        served.apply(config)
        upstream = Upstream(config)
        await upstream.start()
        client = TestClient(TestServer(build_proxy_app(ReverseProxy(served, metrics, upstream))))
        await client.start_server()
        servers.extend([client, app, upstream])
        return client

    yield make  # type: ignore[misc]
    for server in servers:
        await server.close()


def events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]


MESSAGES = {"model": "m", "max_tokens": 100, "system": FACTS, "messages": [{"role": "user", "content": "Refunds?"}]}
# (the context as an input message: a Responses object echoes `instructions`, the client's own text, back to it)
RESPONSES = {"model": "m", "input": [{"role": "system", "content": FACTS}, {"role": "user", "content": "Refunds?"}]}


@pytest.mark.parametrize(("path", "body"), [("/v1/messages", MESSAGES), ("/v1/responses", RESPONSES)])
@pytest.mark.parametrize("stream", [False, True])
async def test_redacted_in_every_api(guarded: Client, path: str, body: dict[str, Any], stream: bool) -> None:
    client = await guarded("redact")
    response = await client.post(path, json=body | {"stream": stream}, headers={"x-scripted-answer": quote(FACTS)})
    text = await response.text()
    assert response.status == 200
    assert EMAIL not in text
    assert "[EMAIL]" in text
    if stream:
        shown = "".join(
            e.get("delta", {}).get("text", "") if path == "/v1/messages" else e.get("delta", "")
            for e in events(text)
            if e.get("type") in ("content_block_delta", "response.output_text.delta")
        )
        assert shown == FACTS.replace(EMAIL, "[EMAIL]")


@pytest.mark.parametrize(("path", "body"), [("/v1/messages", MESSAGES), ("/v1/responses", RESPONSES)])
async def test_a_block_detector_stops_the_stream_before_the_value(
    guarded: Client, path: str, body: dict[str, Any]
) -> None:
    client = await guarded("block")
    response = await client.post(path, json=body | {"stream": True}, headers={"x-scripted-answer": quote(FACTS)})
    text = await response.text()
    assert EMAIL not in text
    assert "jane" not in text
    assert "pii_detected" in text
