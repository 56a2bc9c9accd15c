"""The chart's Triton queries against a live Prometheus scraping a real Triton that served the sidecar's scorer:
every dashboard expression and every Triton alert expression (its threshold comparison left out) returns data."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from guardrail_models.repository import default_repository
from guardrail_sidecar.backends.triton import TritonBackend
from guardrail_sidecar.config import Cache, Models
from guardrail_sidecar.config import TritonBackend as TritonConfig
from guardrail_sidecar.metrics import Metrics
from guardrail_sidecar.scorer import Scorer
from guardrail_triton.server import TritonProcess
from tests.integration.canary.promtools import prometheus
from tests.support.triton import triton_server
from tests.unit.chart.render import one, render

pytestmark = pytest.mark.integration

GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$namespace": ".*"}
COMPARISON = re.compile(r"\s*(==|!=|>=|<=|>|<)\s*[0-9.eE+-]+\s*$")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TritonProcess, str]]:
    tmp = tmp_path_factory.mktemp("triton-prometheus")
    with triton_server(tmp) as triton, prometheus([], tmp, triton=[f"127.0.0.1:{triton.spec.ports.metrics}"]) as url:
        yield triton, url


def _traffic(triton: TritonProcess) -> None:
    config = TritonConfig(url=triton.spec.ports.grpc_url, protocol="grpc", timeout="30s")
    models = Models(backend="triton", triton=config, tokenizer_repository=str(default_repository()))
    scorer = Scorer(TritonBackend(config), models, Cache(max_entries=0), Metrics(), "metrics-test")

    async def run() -> None:
        for i in range(5):
            await scorer.nli([(f"Refunds take {i + 10} days.", "Refunds take two weeks.")])
            await scorer.injection([f"How do refunds work, part {i}?"])
        await scorer.backend.close()

    asyncio.run(run())


def _query(url: str, promql: str) -> list[dict[str, Any]]:
    body = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=10).json()
    assert body["status"] == "success", (promql, body)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _triton_expressions() -> list[str]:
    """The chart's dashboard targets and alert expressions that query Triton, as `helm template` renders them."""
    manifests = render({"metrics.prometheusRule.enabled": True})
    dashboard = json.loads(one(manifests, "ConfigMap", "-dashboard")["data"]["guardrails.json"])
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"] if "nv_inference" in t["expr"]]
    rule = one(manifests, "PrometheusRule")
    (group,) = [g for g in rule["spec"]["groups"] if g["name"] == "guardrail.triton"]
    exprs += [COMPARISON.sub("", r["expr"].strip()) for r in group["rules"]]
    for variable, value in GRAFANA_VARIABLES.items():
        exprs = [e.replace(variable, value) for e in exprs]
    return exprs


def test_every_triton_query_of_the_chart_returns_data(live: tuple[TritonProcess, str]) -> None:
    triton, url = live
    _traffic(triton)
    exprs = _triton_expressions()
    assert len(exprs) >= 9  # 6 dashboard targets, 3 alerts
    deadline = time.monotonic() + 60
    empty = exprs
    while empty and time.monotonic() < deadline:  # rates need two scrapes after the traffic
        empty = [e for e in exprs if not _query(url, e)]
        time.sleep(1)
    assert not empty, f"no data for: {yaml.safe_dump(empty)}"
    served = {
        r["metric"]["model"]: float(r["value"][1]) for r in _query(url, "sum by (model) (nv_inference_request_success)")
    }
    assert served["nli"] >= 5
    assert served["injection"] >= 5
    assert served["embedding"] >= 5
