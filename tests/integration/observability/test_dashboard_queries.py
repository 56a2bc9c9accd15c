"""Every PromQL expression of the chart's Grafana dashboard returns series from a real Prometheus scraping real
processes: a sidecar scoring through a real Triton (python backend on CPU), that Triton's metrics port, and a
real operator reconciling Guardrails on the local control plane. Every metric the alerts read is there too,
except the kubelet's and kube-state-metrics' series, which only a real node and kube-state-metrics export
(those alerts are covered by `promtool test rules` in tests/unit/chart).

Jobs are named as in a cluster with the chart's monitors (release gr in guardrail-system), so the alerts'
job selectors match: the PodMonitor's `guardrail-system/gr-guardrail-operator-sidecars`, the ServiceMonitor's
`gr-guardrail-operator-metrics`, and `triton`.

The traffic exercises every series: answers scored by Triton on the stable revision (fail-closed) and repeated
(score-cache hits), answers whose canary revision's Triton is unreachable (fail-open decisions), a prompt
injection refused before the app, and app errors. On the operator's side: a Guardrail whose external Qdrant does
not answer (KnowledgeBaseReady False), and one whose managed Qdrant's StatefulSet a ResourceQuota forbids, so its
reconciles fail (guardrail_operator_reconcile_errors_total).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from guardrail_demo.prometheus import query
from guardrail_devcluster.cluster import LocalCluster, free_port
from guardrail_models.repository import default_repository
from tests.integration.canary.promtools import prometheus_binary
from tests.integration.operator.helpers import OperatorProcess, example_guardrail, wait_for
from tests.support.processes import PYTHON, REPO, running
from tests.support.sidecar_traffic import traffic
from tests.support.triton import triton_server
from tests.unit.chart.render import one, render

pytestmark = pytest.mark.integration

GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$namespace": ".*"}
SIDECAR_JOB = "guardrail-system/gr-guardrail-operator-sidecars"
OPERATOR_JOB = "gr-guardrail-operator-metrics"
# Series of the kubelet (cAdvisor, volume stats) and kube-state-metrics: no process here exports them.
KUBERNETES_SERIES = {
    "container_memory_working_set_bytes",
    "kube_pod_container_resource_limits",
    "kube_pod_init_container_resource_limits",
    "kubelet_volume_stats_used_bytes",
    "kubelet_volume_stats_capacity_bytes",
}


@dataclass(frozen=True)
class Live:
    sidecar: str
    prometheus: str


def _models(url: str) -> dict[str, Any]:
    triton = {"url": url, "protocol": "grpc", "timeout": "5s", "retries": 0}
    return {"backend": "triton", "triton": triton, "tokenizerRepository": str(default_repository())}


def _sidecar_config(grpc: str, app: int, listen: int, admin: int) -> dict[str, Any]:
    dead = f"127.0.0.1:{free_port()}"  # nothing listens: the canary's answers go by onBackendError
    return {
        "proxy": {"listenPort": listen, "listenHost": "127.0.0.1", "upstreamPort": app},
        "adminPort": admin,
        "routing": {
            "stable": {"revision": "stable", "policy": {"onBackendError": "fail-closed"}, "models": _models(grpc)},
            "canary": {"revision": "canary", "policy": {"onBackendError": "fail-open"}, "models": _models(dead)},
            "canaryWeight": 50,
        },
    }


def _prometheus_config(sidecar: str, operator: str, triton: str) -> dict[str, Any]:
    jobs = {SIDECAR_JOB: sidecar, OPERATOR_JOB: operator, "triton": triton}
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "10s"},
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [t]}]} for job, t in jobs.items()],
    }


def _guardrails(namespace: str) -> list[dict[str, Any]]:
    """support-bot: a managed Qdrant (its StatefulSet is forbidden by the quota); faq: an external Qdrant that
    does not answer."""
    blocked = example_guardrail(namespace)
    unreachable = example_guardrail(namespace)
    unreachable["metadata"]["name"] = "faq"
    unreachable["spec"]["selector"] = {"matchLabels": {"app": "faq"}}
    unreachable["spec"]["knowledgeBase"] = {
        "qdrant": {"external": {"url": f"http://127.0.0.1:{free_port()}"}},
        "collection": "faq",
    }
    return [blocked, unreachable]


@pytest.fixture(scope="module")
def watched(cluster: LocalCluster) -> Iterator[str]:
    name = f"t-obs-{int(time.time()) % 100000}"
    cluster.kubectl("create", "namespace", name)
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "no-statefulsets", "namespace": name},
        "spec": {"hard": {"count/statefulsets.apps": "0"}},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(quota))
    wait_for(
        "the quota to be observed",
        lambda: (
            json.loads(cluster.kubectl("get", "resourcequota", "no-statefulsets", "-n", name, "-o", "json").stdout)
            .get("status", {})
            .get("hard")
        ),
        timeout=60,
    )
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def live(cluster: LocalCluster, watched: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp: Path = tmp_path_factory.mktemp("observability")
    app, listen, admin, prom = free_port(), free_port(), free_port(), free_port()
    app_cmd = [PYTHON, str(REPO / "tests" / "support" / "fake_llm.py"), "--port", str(app)]
    operator = OperatorProcess(cluster, watched, "op-observability", tmp)
    try:
        with triton_server(tmp) as triton:
            config = tmp / "sidecar.yaml"
            config.write_text(yaml.safe_dump(_sidecar_config(triton.spec.ports.grpc_url, app, listen, admin)))
            scrape = _prometheus_config(
                f"127.0.0.1:{admin}", f"127.0.0.1:{operator.port}", f"127.0.0.1:{triton.spec.ports.metrics}"
            )
            (tmp / "prometheus.yml").write_text(yaml.safe_dump(scrape))
            server = [
                prometheus_binary(),
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{prom}",
            ]
            sidecar_cmd = [PYTHON, "-m", "guardrail_sidecar", "--config", str(config)]
            with (
                running(app_cmd, f"http://127.0.0.1:{app}/_seen", tmp / "app.log"),
                running(sidecar_cmd, f"http://127.0.0.1:{admin}/readyz", tmp / "sidecar.log", timeout=90),
                running(server, f"http://127.0.0.1:{prom}/-/ready", tmp / "prometheus.log"),
            ):
                for body in _guardrails(watched):
                    cluster.kubectl("apply", "-f", "-", input=json.dumps(body))
                yield Live(f"http://127.0.0.1:{listen}", f"http://127.0.0.1:{prom}")
    finally:
        operator.stop()


def _grafana_free(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def dashboard_expressions() -> dict[str, str]:
    """Panel and target → PromQL of every dashboard query, as `helm template` ships it (variables filled in),
    and the metric of every query variable."""
    dashboard = json.loads(one(render(), "ConfigMap", "-dashboard")["data"]["guardrails.json"])
    exprs = {f"panel {p['title']!r} {t['refId']}": t["expr"] for p in dashboard["panels"] for t in p["targets"]}
    for variable in dashboard["templating"]["list"]:
        if variable.get("type") == "query":
            exprs[f"variable {variable['name']}"] = str(variable["query"]).removeprefix("label_values(").rsplit(",")[0]
    return {name: _grafana_free(e) for name, e in exprs.items()}


def alert_metrics() -> set[str]:
    """Every series name the chart's alerts read."""
    rule = one(render({"metrics.prometheusRule.enabled": True}), "PrometheusRule")
    names: set[str] = set()
    for expr in (r["expr"] for group in rule["spec"]["groups"] for r in group["rules"]):
        expr = re.sub(r'"[^"]*"', '""', expr)  # label values
        expr = re.sub(r"\b(by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)  # label lists
        expr = re.sub(r'\b\w+\s*(=~|!~|!=|=)\s*""', "", expr)  # label matchers
        names |= set(re.findall(r"\b(?:guardrail_|nv_|kube_|kubelet_|container_)[a-z0-9_]+|\bup\b", expr))
    return names


def test_every_dashboard_query_returns_series_from_real_processes(live: Live, cluster: LocalCluster) -> None:
    traffic(live.sidecar)
    exprs = dashboard_expressions()
    assert len(exprs) >= 20
    deadline = time.monotonic() + 90  # rates need two scrapes after the traffic; the operator its reconciles
    empty = exprs
    while empty and time.monotonic() < deadline:
        empty = {name: e for name, e in exprs.items() if not query(live.prometheus, e)}
        time.sleep(1)
    assert not empty, f"no series for:\n{yaml.safe_dump(empty, width=200)}"

    weight = query(live.prometheus, 'guardrail_canary_weight{revision="canary"}')
    assert [float(r["value"][1]) for r in weight] == [0.5], "the canary weight is a 0-1 ratio"
    conditions = {
        (r["metric"]["guardrail"], r["metric"]["type"], r["metric"]["status"], r["metric"]["reason"])
        for r in query(live.prometheus, "guardrail_operator_guardrail_condition == 1")
    }
    assert ("faq", "KnowledgeBaseReady", "False", "ExternalQdrantUnreachable") in conditions
    errors = query(live.prometheus, "sum(guardrail_operator_reconcile_errors_total)")
    assert float(errors[0]["value"][1]) >= 1, "support-bot's forbidden StatefulSet fails its reconciles"


def test_every_metric_the_alerts_read_is_exported(live: Live) -> None:
    traffic(live.sidecar)
    wanted = alert_metrics()
    assert {"guardrail_answer_duration_seconds_bucket", "guardrail_operator_guardrail_condition", "up"} <= wanted
    assert wanted >= KUBERNETES_SERIES
    deadline = time.monotonic() + 60
    missing = wanted - KUBERNETES_SERIES
    while missing and time.monotonic() < deadline:
        missing = {m for m in missing if not query(live.prometheus, f"count({m})")}
        time.sleep(1)
    assert not missing, f"alerts read series no process exports: {sorted(missing)}"
