"""The chart's alerts and dashboard as Prometheus sees them: every PromQL expression parses (`promtool check
rules`), and every alert fires when it should and only then (`promtool test rules`, the `*_alerts.test.yaml`
cases beside this file: sidecar, Triton, knowledge-base and operator alerts)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .render import one, render

HERE = Path(__file__).parent
# Triton's own series the chart uses (all exported by tritonserver 2.51.0's metrics port; the integration test
# tests/integration/triton/test_triton_metrics_queries.py evaluates the expressions against a real one).
TRITON_SERIES = {
    "nv_inference_request_success",
    "nv_inference_request_failure",
    "nv_inference_queue_duration_us",
    "nv_inference_compute_infer_duration_us",
    "nv_inference_pending_request_count",
    "nv_inference_count",
    "nv_inference_exec_count",
}
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$namespace": ".*"}


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed: `make system-deps` (Debian's prometheus package)")
    return found


def rule_groups(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    rule = one(render({"metrics.prometheusRule.enabled": True, **(values or {})}), "PrometheusRule")
    groups: list[dict[str, Any]] = rule["spec"]["groups"]
    return groups


def dashboard_expressions() -> list[str]:
    config = one(render(), "ConfigMap", "-dashboard")
    dashboard = json.loads(config["data"]["guardrails.json"])
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    for variable in dashboard["templating"]["list"]:
        if variable.get("type") == "query":
            exprs.append(str(variable["query"]).removeprefix("label_values(").rsplit(",", 1)[0])  # its metric
    return exprs


def grafana_free(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def check_rules(tmp_path: Path, groups: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}))
    return subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60)


def test_every_alert_expression_parses(tmp_path: Path) -> None:
    result = check_rules(tmp_path, rule_groups())
    assert result.returncode == 0, result.stdout + result.stderr
    count = sum(len(g["rules"]) for g in rule_groups())
    assert f"SUCCESS: {count} rules found" in result.stdout


def test_every_dashboard_expression_parses(tmp_path: Path) -> None:
    exprs = dashboard_expressions()
    rules = [{"record": f"dashboard:expr_{i}", "expr": grafana_free(e)} for i, e in enumerate(exprs)]
    result = check_rules(tmp_path, [{"name": "dashboard", "rules": rules}])
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout


def test_a_broken_expression_is_caught(tmp_path: Path) -> None:
    broken = [{"name": "g", "rules": [{"record": "x:y", "expr": "sum by (model (rate(nv_inference_count[1m]))"}]}]
    assert check_rules(tmp_path, broken).returncode != 0


RULE_TESTS = sorted(HERE.glob("*_alerts.test.yaml"))


@pytest.mark.parametrize("cases", RULE_TESTS, ids=[p.name for p in RULE_TESTS])
def test_alerts_fire_when_they_should(tmp_path: Path, cases: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": rule_groups()}))
    shutil.copy(cases, tmp_path / cases.name)
    result = subprocess.run(
        [promtool(), "test", "rules", cases.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_promtool_cases() -> None:
    alerts = {r["alert"] for g in rule_groups() for r in g["rules"] if "alert" in r}
    tested = {
        t["alertname"]
        for path in RULE_TESTS
        for case in yaml.safe_load(path.read_text())["tests"]
        for t in case.get("alert_rule_test", [])
        if t.get("exp_alerts")
    }
    assert alerts <= tested, f"alerts without a firing promtool case: {sorted(alerts - tested)}"


def test_triton_alert_thresholds_come_from_the_values() -> None:
    alerts = {
        r["alert"]: r
        for g in rule_groups(
            {"metrics.prometheusRule.tritonQueueMilliseconds": 20, "metrics.prometheusRule.tritonFailureRatio": 0.1}
        )
        for r in g["rules"]
    }
    assert {"GuardrailTritonDown", "GuardrailTritonInferenceFailures", "GuardrailTritonQueueTimeHigh"} <= set(alerts)
    assert alerts["GuardrailTritonQueueTimeHigh"]["expr"].rstrip().endswith("/ 1000 > 20")
    assert alerts["GuardrailTritonInferenceFailures"]["expr"].rstrip().endswith(") > 0.1")


def test_dashboard_and_alerts_use_the_real_triton_series() -> None:
    exprs = dashboard_expressions() + [r["expr"] for g in rule_groups() for r in g["rules"]]
    used = {m for e in exprs for m in re.findall(r"\bnv_[a-z_]+", e)}
    assert used <= TRITON_SERIES, used - TRITON_SERIES
    required = {
        "nv_inference_request_success",
        "nv_inference_request_failure",
        "nv_inference_queue_duration_us",
        "nv_inference_compute_infer_duration_us",
        "nv_inference_pending_request_count",
    }
    assert required <= {m for e in dashboard_expressions() for m in re.findall(r"\bnv_[a-z_]+", e)}
