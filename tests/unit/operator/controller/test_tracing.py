"""The operator's spans: one per reconcile, and one per canary analysis inside it, recorded by the SDK."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from guardrail_operator.controller import tracing
from guardrail_operator.controller.metrics import Metrics
from guardrail_operator.controller.reconciler import Reconciler
from guardrail_operator.reconcile.observed import ProbeResult
from guardrail_operator.rollout.actions import AnalysisWindow
from guardrail_operator.rollout.analysis import Failed

MakeBody = Callable[..., dict[str, Any]]


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use(provider)
    yield exporter
    tracing.use(None)


def named(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def test_each_reconcile_is_a_span_saying_what_it_did(
    kube: Any, body: dict[str, Any], exported: InMemorySpanExporter
) -> None:
    reconciler = Reconciler(kube=kube, fetcher_image="f:1", probe=lambda _: ProbeResult(ok=True), metrics=Metrics())
    kube.put(body)
    reconciler.reconcile(kube.get("Guardrail", "shop", "support-bot"))
    reconciler.reconcile(kube.get("Guardrail", "shop", "support-bot"))

    first, second = named(exported.get_finished_spans(), "guardrail.reconcile")
    assert first.attributes is not None
    assert second.attributes is not None
    assert first.attributes["guardrail.name"] == "support-bot"
    assert first.attributes["k8s.namespace.name"] == "shop"
    assert first.attributes["guardrail.reconcile.applied"] == 9
    assert first.attributes["guardrail.reconcile.status_written"] is True
    assert first.attributes["guardrail.rollout.phase"] == "Pending"
    assert second.attributes["guardrail.reconcile.applied"] == 0  # the second run found nothing to do
    assert first.context is not None
    assert second.context is not None
    assert first.context.trace_id != second.context.trace_id  # each reconcile is its own trace


def test_a_canary_analysis_is_a_child_span_of_its_reconcile(
    kube: Any, make_body: MakeBody, exported: InMemorySpanExporter
) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    windows: list[AnalysisWindow] = []

    def analyse(_: Any, window: AnalysisWindow) -> Failed:
        windows.append(window)
        return Failed("errorRate", 0.2, 0.01)

    reconciler = Reconciler(
        kube=kube,
        fetcher_image="f:1",
        probe=lambda _: ProbeResult(ok=True),
        metrics=Metrics(),
        clock=lambda: now[0],
        analyse=analyse,
    )
    kube.put(make_body())
    reconciler.reconcile(kube.get("Guardrail", "shop", "support-bot"))
    for kind, _, name in list(kube.objects):
        if kind in ("Deployment", "StatefulSet"):
            kube.mark_ready(kind, "shop", name)
    reconciler.reconcile_by_name("shop", "support-bot")  # Healthy: a stable revision
    changed = kube.get("Guardrail", "shop", "support-bot")
    changed["spec"]["policy"]["threshold"] = 0.55
    changed["metadata"]["generation"] = 2
    kube.put(changed)
    reconciler.reconcile(kube.get("Guardrail", "shop", "support-bot"))  # the canary starts
    now[0] += timedelta(minutes=6)  # the step interval (5m) ended: analysis is due
    reconciler.reconcile_by_name("shop", "support-bot")

    assert len(windows) == 1
    spans = exported.get_finished_spans()
    (analysis,) = named(spans, "guardrail.analysis")
    assert analysis.parent is not None
    reconciles = {s.context.span_id: s for s in named(spans, "guardrail.reconcile") if s.context is not None}
    parent = reconciles[analysis.parent.span_id]
    assert parent.attributes is not None
    assert parent.attributes["guardrail.name"] == "support-bot"
    assert analysis.attributes == {
        "guardrail.analysis.canary_revision": windows[0].canary_revision,
        "guardrail.analysis.stable_revision": windows[0].stable_revision,
        "guardrail.analysis.window": "5m",
        "guardrail.analysis.result": "failed",
        "guardrail.analysis.failed_check": "errorRate",
        "guardrail.analysis.value": 0.2,
        "guardrail.analysis.limit": 0.01,
        "guardrail.analysis.summary": "analysis failed: errorRate is 0.2, above the limit 0.01",
    }


def test_tracing_off_records_nothing() -> None:
    tracing.use(None)
    with tracing.reconcile("shop", "support-bot", prune=True) as span:
        assert not span.is_recording()
