"""Canary analysis: PromQL over the sidecars' metrics, canary vs stable in the same window, and the verdict.

Pure: `build_queries` writes the PromQL, `evaluate` judges the values; `analyse` runs the queries through any
`query(promql) -> float | None` function (in production `prometheus.Prometheus.query`, which talks HTTP).
The metric families are the sidecar's (`guardrail_sidecar.observability.metrics`); every series has a `revision` label.

Checks, in the order they are judged (the first one over its limit fails the analysis):
- `errorRate`: answers decided by `onBackendError` (a scoring backend failed) per scored request, <= maxErrorRate
- `failOpenRate`: the share of those let through unchecked (fail-open), also <= maxErrorRate
- `p95AddedLatencyMs`: p95 of the latency the sidecar adds, <= maxP95LatencyMs
- `blockRateIncrease`: canary block rate minus stable block rate, <= maxBlockRateIncrease
- custom checks: any PromQL giving one number, with `{canary}`, `{stable}` and `{window}` filled in, <= its max
  (`score_shift_check` is one: the shift of the median grounding score, canary vs stable)
Fewer than `minRequests` canary requests (or a stable revision with none) is *inconclusive*, never a pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from guardrail_contract.guardrail import Analysis
from guardrail_operator.errors import OperatorError
from guardrail_operator.rollout.actions import AnalysisWindow

REQUESTS = "guardrail_requests_total"
DECISIONS = "guardrail_backend_error_decisions_total"
LATENCY_BUCKETS = "guardrail_added_latency_seconds_bucket"
SCORES = "guardrail_score_bucket"
QueryFn = Callable[[str], float | None]


class AnalysisError(OperatorError):
    """Canary metrics could not be read (Prometheus unreachable, a query rejected, an answer not understood)."""


@dataclass(frozen=True)
class CheckValue:
    name: str
    value: float
    limit: float


@dataclass(frozen=True)
class Passed:
    canary_requests: float
    checks: tuple[CheckValue, ...]

    def describe(self) -> str:
        values = ", ".join(f"{c.name}={c.value:.4g} (limit {c.limit:.4g})" for c in self.checks)
        return f"analysis passed over {self.canary_requests:.0f} canary requests: {values}"


@dataclass(frozen=True)
class Failed:
    check: str
    value: float
    limit: float

    def describe(self) -> str:
        return f"analysis failed: {self.check} is {self.value:.4g}, above the limit {self.limit:.4g}"


@dataclass(frozen=True)
class Inconclusive:
    reason: str

    def describe(self) -> str:
        return f"analysis inconclusive: {self.reason}"


AnalysisResult = Passed | Failed | Inconclusive


@dataclass(frozen=True)
class CustomCheck:
    """A user's PromQL giving one number; `{canary}`, `{stable}` and `{window}` are filled in."""

    name: str
    query: str
    max: float


def score_shift_check(max_shift: float) -> CustomCheck:
    """Score distribution shift: how far the canary's median grounding score moved from stable's."""
    median = "histogram_quantile(0.5, sum by (le) (rate(" + SCORES + '{{revision="{rev}"}}[{{window}}])))'
    return CustomCheck(
        "scoreMedianShift",
        f"abs({median.format(rev='{canary}')} - {median.format(rev='{stable}')})",
        max_shift,
    )


def selector(revision: str, **labels: str) -> str:
    """`{revision="...",k="v"}` with label values escaped as PromQL string literals."""
    pairs = {"revision": revision, **labels}
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs.items()) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _increase(metric: str, revision: str, window: str, **labels: str) -> str:
    return f"sum(increase({metric}{selector(revision, **labels)}[{window}]))"


def _share(metric: str, revision: str, window: str, **labels: str) -> str:
    """Matching increase over all scored requests of `revision`; 0 (not empty) when nothing matched."""
    return f"({_increase(metric, revision, window, **labels)} or vector(0)) / {_increase(REQUESTS, revision, window)}"


def build_queries(w: AnalysisWindow) -> dict[str, str]:
    """The PromQL for every built-in value, canary and stable over the same window."""
    c, s, win = w.canary_revision, w.stable_revision, w.window
    return {
        "canaryRequests": _increase(REQUESTS, c, win),
        "stableRequests": _increase(REQUESTS, s, win),
        "errorRate": _share(DECISIONS, c, win),
        "failOpenRate": _share(DECISIONS, c, win, decision="fail-open"),
        "p95AddedLatencyMs": "1000 * histogram_quantile(0.95, sum by (le) "
        f"(rate({LATENCY_BUCKETS}{selector(c)}[{win}])))",
        "canaryBlockRate": _share(REQUESTS, c, win, verdict="block"),
        "stableBlockRate": _share(REQUESTS, s, win, verdict="block"),
    }


def custom_query(check: CustomCheck, w: AnalysisWindow) -> str:
    return (
        check.query.replace("{canary}", _escape(w.canary_revision))
        .replace("{stable}", _escape(w.stable_revision))
        .replace("{window}", w.window)
    )


def evaluate(
    values: Mapping[str, float | None],
    limits: Analysis,
    custom: Sequence[tuple[CustomCheck, float | None]] = (),
) -> AnalysisResult:
    """The verdict from the queried values (None: the query returned no data)."""
    canary = values.get("canaryRequests") or 0.0
    if canary < limits.min_requests:
        return Inconclusive(
            f"{canary:.0f} canary requests in the window, fewer than minRequests {limits.min_requests}; waiting"
        )
    if not values.get("stableRequests"):
        return Inconclusive("the stable revision served no requests in the window: nothing to compare with")
    canary_block, stable_block = values.get("canaryBlockRate"), values.get("stableBlockRate")
    measured: list[tuple[str, float | None, float]] = [
        ("errorRate", values.get("errorRate"), limits.max_error_rate),
        ("failOpenRate", values.get("failOpenRate"), limits.max_error_rate),
        ("p95AddedLatencyMs", values.get("p95AddedLatencyMs"), limits.max_p95_latency_ms),
        (
            "blockRateIncrease",
            None if canary_block is None or stable_block is None else canary_block - stable_block,
            limits.max_block_rate_increase,
        ),
    ]
    measured += [(check.name, value, check.max) for check, value in custom]
    checks = []
    for name, value, limit in measured:
        if value is None:
            return Inconclusive(f"no data for {name} in the window")
        if value > limit:
            return Failed(name, value, limit)
        checks.append(CheckValue(name, value, limit))
    return Passed(canary, tuple(checks))


def analyse(
    query: QueryFn, window: AnalysisWindow, limits: Analysis, custom: Sequence[CustomCheck] = ()
) -> AnalysisResult:
    """Run every query and judge; metrics that cannot be read make the result inconclusive (never a pass)."""
    try:
        values = {name: _finite(query(promql)) for name, promql in build_queries(window).items()}
        custom_values = [(check, _finite(query(custom_query(check, window)))) for check in custom]
    except AnalysisError as exc:
        return Inconclusive(f"canary metrics unavailable ({exc}); waiting")
    return evaluate(values, limits, custom_values)


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value
