"""The chart's queries against a live Prometheus scraping a real Triton and a real sidecar scoring through it:
every dashboard expression and every sidecar and Triton alert expression (its threshold comparison left out)
returns data. The operator's series need the operator in a cluster; their names are checked against what it
exports in tests/unit/chart/test_render.py.

The sidecar's traffic exercises every series the queries read: answers scored by Triton (stable revision,
fail-closed), answers whose canary revision's Triton is unreachable (fail-open decisions), a prompt injection
refused before the app, and app errors.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from guardrail_demo.prometheus import query
from guardrail_devcluster.cluster import free_port
from guardrail_models.repository import default_repository
from guardrail_triton.server import TritonProcess
from tests.integration.canary.promtools import prometheus
from tests.support.processes import PYTHON, REPO, running
from tests.support.sidecar_traffic import traffic
from tests.support.triton import triton_server
from tests.unit.chart.render import one, render

pytestmark = pytest.mark.integration

GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$namespace": ".*"}
# Sidecar alerts on series no process here exports: the kubelet's and kube-state-metrics' (memory) and the
# chart's PodMonitor job (down); tests/integration/observability checks every alert's series.
NOT_FROM_THESE_PROCESSES = {"GuardrailSidecarMemoryNearLimit", "GuardrailSidecarDown"}
COMPARISON = re.compile(r"\s*(==|!=|>=|<=|>|<)\s*[0-9.eE+-]+")  # every threshold (the cache alert has two)


def _models(url: str) -> dict[str, Any]:
    triton = {"url": url, "protocol": "grpc", "timeout": "5s", "retries": 0}
    return {"backend": "triton", "triton": triton, "tokenizerRepository": str(default_repository())}


def _sidecar_config(grpc: str, app: int, listen: int, admin: int) -> dict[str, Any]:
    dead = f"127.0.0.1:{free_port()}"  # nothing listens: the canary's answers go by onBackendError
    return {
        "proxy": {"listenPort": listen, "listenHost": "127.0.0.1", "upstreamPort": app},
        "adminPort": admin,
        "routing": {
            "stable": {
                "revision": "stable",
                "policy": {"onBackendError": "fail-closed"},
                "models": _models(grpc),
            },
            "canary": {"revision": "canary", "policy": {"onBackendError": "fail-open"}, "models": _models(dead)},
            "canaryWeight": 50,
        },
    }


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, TritonProcess]]:
    """(sidecar URL, Prometheus URL, Triton): Prometheus scrapes the sidecar's admin port and Triton's metrics."""
    tmp: Path = tmp_path_factory.mktemp("metrics-queries")
    app, listen, admin = free_port(), free_port(), free_port()
    config = tmp / "sidecar.yaml"
    app_cmd = [PYTHON, str(REPO / "tests" / "support" / "fake_llm.py"), "--port", str(app)]
    with triton_server(tmp) as triton:
        config.write_text(yaml.safe_dump(_sidecar_config(triton.spec.ports.grpc_url, app, listen, admin)))
        sidecar_cmd = [PYTHON, "-m", "guardrail_sidecar", "--config", str(config)]
        targets = {"triton": [f"127.0.0.1:{triton.spec.ports.metrics}"]}
        with (
            running(app_cmd, f"http://127.0.0.1:{app}/_seen", tmp / "app.log"),
            running(sidecar_cmd, f"http://127.0.0.1:{admin}/readyz", tmp / "sidecar.log", timeout=90),
            prometheus([f"127.0.0.1:{admin}"], tmp, **targets) as url,
        ):
            yield f"http://127.0.0.1:{listen}", url, triton


def _chart_expressions() -> dict[str, str]:
    """Name → PromQL of every dashboard target and every sidecar and Triton alert, as `helm template` renders
    them (Grafana variables filled in, alert thresholds left out)."""
    manifests = render({"metrics.prometheusRule.enabled": True})
    dashboard = json.loads(one(manifests, "ConfigMap", "-dashboard")["data"]["guardrails.json"])
    exprs = {
        f"panel {p['title']!r} {t['refId']}": t["expr"]
        for p in dashboard["panels"]
        for t in p["targets"]
        if "guardrail_operator_" not in t["expr"]
    }
    for group in one(manifests, "PrometheusRule")["spec"]["groups"]:
        if group["name"] in ("guardrail.sidecar", "guardrail.triton"):
            exprs |= {
                f"alert {r['alert']}": COMPARISON.sub("", r["expr"].strip())
                for r in group["rules"]
                if r["alert"] not in NOT_FROM_THESE_PROCESSES
            }
    for variable, value in GRAFANA_VARIABLES.items():
        exprs = {name: e.replace(variable, value) for name, e in exprs.items()}
    return exprs


def test_every_sidecar_and_triton_query_of_the_chart_returns_data(live: tuple[str, str, TritonProcess]) -> None:
    sidecar, url, _ = live
    traffic(sidecar)
    exprs = _chart_expressions()
    assert len([n for n in exprs if n.startswith("alert")]) == 10  # 7 sidecar, 3 Triton
    assert sum("nv_inference" in e for e in exprs.values()) == 8  # 6 panel targets, 2 alerts (+ TritonDown: up)
    deadline = time.monotonic() + 60
    empty = exprs
    while empty and time.monotonic() < deadline:  # rates need two scrapes after the traffic
        empty = {name: e for name, e in exprs.items() if not query(url, e)}
        time.sleep(1)
    assert not empty, f"no data for:\n{yaml.safe_dump(empty, width=200)}"
    result = query(url, "sum by (model) (nv_inference_request_success)")
    served = {r["metric"]["model"]: float(r["value"][1]) for r in result}
    assert served["nli"] >= 1
    assert served["embedding"] >= 1
    assert served["injection"] >= 1
