"""Canary analysis: the PromQL it sends and how it judges the values that come back."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from guardrail_contract.guardrail import Analysis
from guardrail_operator.clients.prometheus import Prometheus, parse_value
from guardrail_operator.rollout.actions import AnalysisWindow
from guardrail_operator.rollout.analysis import (
    AnalysisError,
    CustomCheck,
    Failed,
    Inconclusive,
    Passed,
    analyse,
    build_queries,
    custom_query,
    evaluate,
    score_shift_check,
    selector,
)

WINDOW = AnalysisWindow("canary1", "stable1", "5m")
LIMITS = Analysis(min_requests=100, max_error_rate=0.01, max_p95_latency_ms=250, max_block_rate_increase=0.05)
GOOD = {
    "canaryRequests": 500.0,
    "stableRequests": 4500.0,
    "errorRate": 0.0,
    "failOpenRate": 0.0,
    "p95AddedLatencyMs": 40.0,
    "canaryBlockRate": 0.06,
    "stableBlockRate": 0.05,
}


def test_canary_and_stable_are_queried_over_the_same_window() -> None:
    q = build_queries(WINDOW)
    assert q["canaryRequests"] == 'sum(increase(guardrail_requests_total{revision="canary1"}[5m]))'
    assert q["stableRequests"] == 'sum(increase(guardrail_requests_total{revision="stable1"}[5m]))'
    assert q["canaryBlockRate"] == (
        '(sum(increase(guardrail_requests_total{revision="canary1",verdict="block"}[5m])) or vector(0))'
        ' / sum(increase(guardrail_requests_total{revision="canary1"}[5m]))'
    )
    assert q["stableBlockRate"] == q["canaryBlockRate"].replace("canary1", "stable1")
    assert 'guardrail_backend_error_decisions_total{revision="canary1",decision="fail-open"}[5m]' in q["failOpenRate"]
    assert q["p95AddedLatencyMs"] == (
        "1000 * histogram_quantile(0.95, sum by (le) "
        '(rate(guardrail_added_latency_seconds_bucket{revision="canary1"}[5m])))'
    )


def test_label_values_are_escaped() -> None:
    assert selector('a"b\\c') == '{revision="a\\"b\\\\c"}'


def test_custom_checks_get_revisions_and_window_filled_in() -> None:
    check = CustomCheck("scoreShift", 'abs(avg(x{revision="{canary}"}[{window}]) - avg(x{revision="{stable}"}))', 0.1)
    assert custom_query(check, WINDOW) == 'abs(avg(x{revision="canary1"}[5m]) - avg(x{revision="stable1"}))'


def test_score_shift_compares_median_scores_of_both_revisions() -> None:
    query = custom_query(score_shift_check(0.1), WINDOW)
    median = 'histogram_quantile(0.5, sum by (le) (rate(guardrail_score_bucket{{revision="{}"}}[5m])))'
    assert query == f"abs({median.format('canary1')} - {median.format('stable1')})"


def test_a_good_canary_passes_with_every_check_reported() -> None:
    result = evaluate(GOOD, LIMITS)
    assert isinstance(result, Passed)
    assert [c.name for c in result.checks] == ["errorRate", "failOpenRate", "p95AddedLatencyMs", "blockRateIncrease"]


@pytest.mark.parametrize(
    ("change", "check", "value"),
    [
        ({"errorRate": 0.2}, "errorRate", 0.2),
        ({"failOpenRate": 0.05, "errorRate": 0.0}, "failOpenRate", 0.05),
        ({"p95AddedLatencyMs": 900.0}, "p95AddedLatencyMs", 900.0),
        ({"canaryBlockRate": 0.5}, "blockRateIncrease", 0.45),
    ],
)
def test_a_bad_canary_fails_naming_the_check_and_value(change: dict[str, float], check: str, value: float) -> None:
    result = evaluate(GOOD | change, LIMITS)
    assert isinstance(result, Failed)
    assert (result.check, round(result.value, 6)) == (check, value)
    assert check in result.describe()


def test_too_little_traffic_is_inconclusive_whatever_the_rates() -> None:
    result = evaluate(GOOD | {"canaryRequests": 99.0, "canaryBlockRate": 0.9}, LIMITS)
    assert isinstance(result, Inconclusive)
    assert "minRequests 100" in result.reason


def test_no_stable_traffic_or_missing_data_is_inconclusive() -> None:
    assert isinstance(evaluate(GOOD | {"stableRequests": 0.0}, LIMITS), Inconclusive)
    assert isinstance(evaluate(GOOD | {"p95AddedLatencyMs": None}, LIMITS), Inconclusive)


def test_a_custom_check_can_fail_the_analysis() -> None:
    check = CustomCheck("scoreShift", "q", 0.1)
    passed = evaluate(GOOD, LIMITS, [(check, 0.05)])
    assert isinstance(passed, Passed)
    assert passed.checks[-1].name == "scoreShift"
    result = evaluate(GOOD, LIMITS, [(check, 0.3)])
    assert isinstance(result, Failed)
    assert result.check == "scoreShift"


def test_analyse_runs_every_query_and_unreadable_metrics_are_inconclusive() -> None:
    queries = build_queries(WINDOW)
    by_query = {queries[name]: value for name, value in GOOD.items()}
    assert isinstance(analyse(by_query.__getitem__, WINDOW, LIMITS), Passed)

    def broken(_: str) -> float | None:
        raise AnalysisError("connection refused")

    result = analyse(broken, WINDOW, LIMITS)
    assert isinstance(result, Inconclusive)
    assert "connection refused" in result.reason


def _prometheus(handler: Any) -> Prometheus:
    return Prometheus("http://prom:9090/", client=httpx.Client(transport=httpx.MockTransport(handler)))


def test_the_client_sends_instant_queries_and_reads_one_number() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        data = {"resultType": "vector", "result": [{"metric": {}, "value": [1.0, "0.25"]}]}
        return httpx.Response(200, json={"status": "success", "data": data})

    assert _prometheus(handler).query("up") == 0.25
    assert seen[0].url.path == "/api/v1/query"
    assert seen[0].url.params["query"] == "up"


def test_the_client_translates_failures() -> None:
    def rejected(_: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"status": "error", "error": "parse error at char 3"})

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(AnalysisError, match="parse error"):
        _prometheus(rejected).query("su(")
    with pytest.raises(AnalysisError, match="unreachable"):
        _prometheus(down).query("up")


def test_results_parse_to_one_number_or_none() -> None:
    assert parse_value({"resultType": "vector", "result": []}) is None
    assert parse_value({"resultType": "scalar", "result": [1.0, "3"]}) == 3.0
    with pytest.raises(AnalysisError, match="2 series"):
        parse_value({"resultType": "vector", "result": [{"value": [1, "1"]}, {"value": [1, "2"]}]})
    with pytest.raises(AnalysisError, match="matrix"):
        parse_value({"resultType": "matrix", "result": []})
