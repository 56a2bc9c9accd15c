"""Operator metrics (`/metrics`, Prometheus text) and liveness (`/healthz`), served by aiohttp."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from guardrail_contract.guardrail import Condition, Phase

PHASES: tuple[Phase, ...] = ("Pending", "Progressing", "Healthy", "Degraded", "RolledBack")


class Metrics:
    """The operator's instruments, in their own registry (so tests can create several)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.reconciles = Counter(
            "guardrail_operator_reconciles", "Reconciles run, by result.", ["result"], registry=self.registry
        )
        self.errors = Counter(
            "guardrail_operator_reconcile_errors",
            "Failed reconciles, by error.",
            ["error"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "guardrail_operator_reconcile_duration_seconds",
            "Time one reconcile takes.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.writes = Counter(
            "guardrail_operator_writes",
            "Writes sent to the API server, by action (apply, prune, status, event).",
            ["action"],
            registry=self.registry,
        )
        self.guardrails = Gauge(
            "guardrail_operator_guardrails", "Guardrails by phase.", ["phase"], registry=self.registry
        )
        self.leader = Gauge("guardrail_operator_leader", "1 while this replica is the leader.", registry=self.registry)
        self.conditions = Gauge(
            "guardrail_operator_guardrail_condition",
            "1 for each condition of each Guardrail, labelled with its current status and reason (alerts key on "
            "these, not on the phase).",
            ["guardrail_namespace", "guardrail", "type", "status", "reason"],
            registry=self.registry,
        )
        self._phases: dict[tuple[str, str], Phase] = {}
        self._conditions: dict[tuple[str, str], dict[str, tuple[str, str]]] = {}

    def set_phase(self, namespace: str, name: str, phase: Phase | None, conditions: Sequence[Condition] = ()) -> None:
        """Record a Guardrail's phase and conditions (phase None: it was deleted) and refresh the gauges."""
        self._set_conditions(namespace, name, conditions if phase is not None else ())
        if phase is None:
            self._phases.pop((namespace, name), None)
        else:
            self._phases[(namespace, name)] = phase
        for p in PHASES:
            self.guardrails.labels(phase=p).set(sum(1 for v in self._phases.values() if v == p))

    def _set_conditions(self, namespace: str, name: str, conditions: Sequence[Condition]) -> None:
        """One series per condition type with its current status and reason; a changed one replaces the old."""
        new: dict[str, tuple[str, str]] = {c.type: (c.status, c.reason) for c in conditions}
        old = self._conditions.pop((namespace, name), {})
        for kind, (status, reason) in old.items():
            if new.get(kind) != (status, reason):
                self.conditions.remove(namespace, name, kind, status, reason)
        for kind, (status, reason) in new.items():
            self.conditions.labels(namespace, name, kind, status, reason).set(1)
        if new:
            self._conditions[(namespace, name)] = new


def make_app(metrics: Metrics, health: Callable[[], dict[str, object]]) -> web.Application:
    """`/metrics` in Prometheus text format; `/healthz` answers 200 with `health()` as JSON."""

    async def metrics_view(_: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def health_view(_: web.Request) -> web.Response:
        return web.Response(text=json.dumps(health()), content_type="application/json")

    app = web.Application()
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/healthz", health_view)
    return app


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Start serving `app`; the caller stops it with `await runner.cleanup()`."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
