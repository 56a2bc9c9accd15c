"""The shadow stage in the sidecar, in-process: the real proxy before the fake app, a deterministic scorer.

The candidate (threshold 0.9: it would block the partly grounded answer stable passes) scores a sample of
stable's answers off the response path; the client only ever sees stable's verdict, the candidate's lands in
the shadow metrics; a full queue drops work (counted) instead of making the client wait.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from guardrail_contract.sidecar_config import SidecarConfig
from guardrail_sidecar.observability.metrics import Metrics
from guardrail_sidecar.revisions.served import ServedRevisions
from guardrail_sidecar.revisions.watch import shadow_rate
from guardrail_sidecar.scored_path.shadow import Shadow
from guardrail_sidecar.scoring.verdict import Assessment
from guardrail_sidecar.server.app import build_proxy_app
from guardrail_sidecar.server.proxy import ReverseProxy, Upstream
from tests.support.fake_llm import build_app as build_fake_app
from tests.support.fake_scorer import FakeScorer

FACTS = "Refunds are paid within 14 days. Shipping is free for orders above 50 euros."
GROUNDED = "Refunds are paid within 14 days by carrier pigeon."  # the fake NLI: 5 of 7 words supported
MODELS = {"backend": "embedded", "embedded": {"repository": "/unused"}}
BODY = {"model": "m", "messages": [{"role": "system", "content": FACTS}, {"role": "user", "content": "Refunds?"}]}


class SlowScorer(FakeScorer):
    """The candidate's models, slow: 0.2 s per NLI call."""

    async def nli(self, pairs: list[tuple[str, str]]) -> list[float]:
        await asyncio.sleep(0.2)
        return await super().nli(pairs)


@pytest.fixture
async def sidecar() -> AsyncIterator[Any]:
    closing: list[Any] = []

    async def make(rate: float, candidate_scorer: FakeScorer | None = None) -> tuple[TestClient, ServedRevisions]:
        app = TestServer(build_fake_app())
        await app.start_server()
        raw = {
            "proxy": {"listenPort": 1, "upstreamPort": app.port},
            "routing": {
                "stable": {"revision": "stable1", "policy": {"threshold": 0.1, "softLimit": 0.1}, "models": MODELS},
                "canary": {"revision": "cand1", "policy": {"threshold": 0.9, "softLimit": 0.9}, "models": MODELS},
                "canaryWeight": 0,
                "shadowSampleRate": rate,
            },
        }
        config = SidecarConfig.model_validate(raw)
        metrics = Metrics()
        stable_scorer, candidate = FakeScorer(), candidate_scorer or FakeScorer()
        revisions = ServedRevisions(
            config, metrics, make_scorer=lambda r: candidate if r.revision == "cand1" else stable_scorer
        )
        revisions.apply(config)
        upstream = Upstream(config)
        await upstream.start()
        client = TestClient(TestServer(build_proxy_app(ReverseProxy(revisions, metrics, upstream))))
        await client.start_server()
        closing.extend([client, app, upstream])
        return client, revisions

    yield make
    for item in closing:
        await item.close()


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_users_get_only_stables_verdict_and_the_candidates_is_counted(sidecar: Any) -> None:
    client, revisions = await sidecar(1.0)
    for _ in range(20):
        response = await client.post("/v1/chat/completions", json=BODY, headers={"x-fake-answer": quote(GROUNDED)})
        body = await response.json()
        assert response.headers["x-guardrail-revision"] == "stable1"
        assert response.headers["x-guardrail-verdict"] == "pass"
        assert body["choices"][0]["message"]["content"] == GROUNDED
        assert body["guardrail"]["revision"] == "stable1"
    await revisions.shadow.drain()
    registry = revisions.metrics.registry
    labels = {"revision": "cand1", "stable_revision": "stable1", "stable_verdict": "pass"}
    assert sample(registry, "guardrail_shadow_answers_total", **labels, candidate_verdict="block", agree="false") == 20
    assert sample(registry, "guardrail_shadow_scoring_seconds_count", revision="cand1") == 20
    assert sample(registry, "guardrail_shadow_score_shift_count", revision="cand1") == 20
    assert sample(registry, "guardrail_shadow_score_shift_sum", revision="cand1") == pytest.approx(0.0)  # same model
    # the candidate's verdicts are not counted as served requests
    assert sample(registry, "guardrail_requests_total", revision="cand1", verdict="block") == 0
    assert sample(registry, "guardrail_requests_total", revision="stable1", verdict="pass") == 20


async def test_sample_rate_zero_shadows_nothing(sidecar: Any) -> None:
    client, revisions = await sidecar(0.0)
    for _ in range(5):
        await client.post("/v1/chat/completions", json=BODY, headers={"x-fake-answer": quote(GROUNDED)})
    await revisions.shadow.drain()
    assert sample(revisions.metrics.registry, "guardrail_shadow_scoring_seconds_count", revision="cand1") == 0


async def test_a_slow_candidate_never_slows_the_response_and_overflow_is_dropped(sidecar: Any) -> None:
    client, revisions = await sidecar(1.0, SlowScorer())
    revisions.shadow.capacity = 2  # before the queue exists: a tiny queue
    timings = []
    for _ in range(12):
        started = time.perf_counter()
        response = await client.post("/v1/chat/completions", json=BODY, headers={"x-fake-answer": quote(GROUNDED)})
        await response.read()
        timings.append(time.perf_counter() - started)
        assert response.headers["x-guardrail-revision"] == "stable1"
    # inline, every answer would take the candidate's 0.2 s; off the path the median is a few milliseconds
    assert statistics.median(timings) < 0.1, timings
    registry = revisions.metrics.registry
    dropped = sample(registry, "guardrail_shadow_dropped_total", revision="cand1", reason="queue_full")
    assert dropped >= 1, "12 answers in well under 0.2 s each: the 2 workers and 2 queue slots overflow"
    await revisions.shadow.drain()
    done = sample(registry, "guardrail_shadow_scoring_seconds_count", revision="cand1")
    assert done + dropped == 12


async def test_a_failing_candidate_is_counted_not_raised() -> None:
    shadow = Shadow(CollectorRegistry())
    shadow.set_rate(1.0)

    class Revision:
        def __init__(self, name: str) -> None:
            self.revision = name

    async def broken(_: Any) -> Assessment:
        raise RuntimeError("backend down")

    stable, candidate = Revision("s"), Revision("c")
    assert shadow.offer(stable, candidate, broken, Assessment("pass", 0.9))  # type: ignore[arg-type]
    await shadow.drain()
    assert sample(shadow.registry, "guardrail_shadow_dropped_total", revision="c", reason="error") == 1
    await shadow.close()


def test_the_watch_shadows_only_while_the_candidate_is_in_the_shadow_stage() -> None:
    spec = {"rollout": {"shadow": {"sampleRate": 0.25}}}
    assert shadow_rate({"spec": spec, "status": {"canary": {"revision": "c", "state": "Shadow"}}}) == 0.25
    assert shadow_rate({"spec": spec, "status": {"canary": {"revision": "c", "state": "Progressing"}}}) == 0.0
    assert shadow_rate({"spec": spec, "status": {}}) == 0.0
    assert shadow_rate({"spec": {}, "status": {"canary": {"state": "Shadow"}}}) == 0.1  # the CRD's default
