"""The operator, traced: against the real control plane, each reconcile of a Guardrail reaches the real
collector as a `guardrail.reconcile` span saying what it did."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardrail_devcluster.cluster import LocalCluster
from guardrail_otel.collector import Collector, Span
from tests.integration.operator.helpers import OperatorProcess, apply, example_guardrail

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def reconciles(spans: list[Span], namespace: str) -> list[Span]:
    return [
        s for s in spans if s.name == "guardrail.reconcile" and s.attributes.get("guardrail.namespace") == namespace
    ]


def test_each_reconcile_reaches_the_collector_as_a_span(
    cluster: LocalCluster, namespace: str, collector: Collector, tmp_path: Path
) -> None:
    operator = OperatorProcess(cluster, namespace, "op-traced", tmp_path, env=collector.otel_env("guardrail-operator"))
    try:
        apply(cluster, example_guardrail(namespace))
        spans = collector.wait_for_spans(
            lambda found: any(s.attributes.get("guardrail.reconcile.applied") for s in reconciles(found, namespace))
        )
    finally:
        operator.stop()
    found = reconciles(spans, namespace)
    assert found, operator.log()[-3000:]
    first = next(s for s in found if s.attributes.get("guardrail.reconcile.applied"))
    assert first.service == "guardrail-operator"
    assert first.kind == "INTERNAL"
    assert first.parent_span_id == ""  # each reconcile is a trace of its own
    assert first.status == "UNSET"
    assert first.attributes["guardrail.name"] == "support-bot"
    assert first.attributes["k8s.namespace.name"] == namespace
    assert first.attributes["guardrail.reconcile.applied"] >= 9  # RBAC, config, NetworkPolicy, Qdrant, Triton
    assert first.attributes["guardrail.reconcile.status_written"] is True
    assert first.attributes["guardrail.rollout.phase"] in ("Pending", "Progressing", "Healthy")
