"""/metrics and /healthz."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from guardrail_operator.controller.metrics import Metrics, make_app


async def test_metrics_and_health_endpoints() -> None:
    metrics = Metrics()
    metrics.reconciles.labels(result="ok").inc()
    metrics.set_phase("shop", "a", "Healthy")
    metrics.set_phase("shop", "b", "Degraded")
    metrics.set_phase("shop", "b", None)
    app = make_app(metrics, lambda: {"status": "ok", "leader": False})
    async with TestClient(TestServer(app)) as client:
        text = await (await client.get("/metrics")).text()
        health = await (await client.get("/healthz")).json()
    assert 'guardrail_operator_reconciles_total{result="ok"} 1.0' in text
    assert 'guardrail_operator_guardrails{phase="Healthy"} 1.0' in text
    assert 'guardrail_operator_guardrails{phase="Degraded"} 0.0' in text
    assert "guardrail_operator_reconcile_duration_seconds_bucket" in text
    assert health == {"status": "ok", "leader": False}
