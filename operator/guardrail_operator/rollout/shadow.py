"""Shadow analysis: PromQL over the sidecars' shadow metrics (`guardrail_sidecar.scored_path.shadow`), and the
verdict that gates the first traffic step. Pure, like `analysis`: `shadow_queries` writes the PromQL, `judge`
reads the values, `analyse_shadow` runs the queries through any `query(promql) -> float | None`.

Every shadowed answer was scored by stable (whose verdict the user got) and by the candidate (whose verdict
only the metrics see), so the comparisons are on the same answers:
- `disagreement`: share of shadowed answers whose candidate verdict differs from stable's, <= maxDisagreement
- `wouldBlockIncrease`: candidate would-block rate minus stable's block rate on them, <= maxWouldBlockIncrease
- reported, not gated: `scoreShift` (mean candidate score minus mean stable score), `addedCostMs` (mean
  candidate scoring time per shadowed answer), `dropped` (work the bounded queue refused).
Fewer than `minRequests` shadowed answers in the window is inconclusive: wait, never promote on silence.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from guardrail_contract.gates import Shadow, ShadowFigures
from guardrail_operator.rollout.actions import AnalysisWindow
from guardrail_operator.rollout.analysis import (
    AnalysisError,
    CheckValue,
    Failed,
    Inconclusive,
    Passed,
    QueryFn,
    selector,
)

ANSWERS = "guardrail_shadow_answers_total"
SHIFT = "guardrail_shadow_score_shift"
COST = "guardrail_shadow_scoring_seconds"
DROPPED = "guardrail_shadow_dropped_total"


@dataclass(frozen=True)
class ShadowPassed(Passed):
    figures: ShadowFigures = field(default_factory=ShadowFigures)


@dataclass(frozen=True)
class ShadowFailed(Failed):
    figures: ShadowFigures = field(default_factory=ShadowFigures)


@dataclass(frozen=True)
class ShadowInconclusive(Inconclusive):
    figures: ShadowFigures = field(default_factory=ShadowFigures)


ShadowResult = ShadowPassed | ShadowFailed | ShadowInconclusive


def _increase(metric: str, revision: str, window: str, **labels: str) -> str:
    return f"sum(increase({metric}{selector(revision, **labels)}[{window}]))"


def _share(revision: str, window: str, **labels: str) -> str:
    return f"({_increase(ANSWERS, revision, window, **labels)} or vector(0)) / {_increase(ANSWERS, revision, window)}"


def _mean(metric: str, revision: str, window: str) -> str:
    return f"{_increase(metric + '_sum', revision, window)} / {_increase(metric + '_count', revision, window)}"


def shadow_queries(w: AnalysisWindow) -> dict[str, str]:
    """The PromQL for every shadow figure of candidate `w.canary_revision` over `w.window`."""
    c, win = w.canary_revision, w.window
    return {
        "requests": _increase(ANSWERS, c, win),
        "disagreement": _share(c, win, agree="false"),
        "candidateWouldBlock": _share(c, win, candidate_verdict="block"),
        "stableBlock": _share(c, win, stable_verdict="block"),
        "scoreShift": _mean(SHIFT, c, win),
        "addedCostMs": f"1000 * {_mean(COST, c, win)}",
        "dropped": f"{_increase(DROPPED, c, win)} or vector(0)",
    }


def figures_of(values: Mapping[str, float | None]) -> ShadowFigures:
    return ShadowFigures(
        requests=values.get("requests") or 0.0,
        disagreement=values.get("disagreement"),
        candidate_would_block=values.get("candidateWouldBlock"),
        stable_block=values.get("stableBlock"),
        score_shift=values.get("scoreShift"),
        added_cost_ms=values.get("addedCostMs"),
        dropped=values.get("dropped"),
    )


def judge(values: Mapping[str, float | None], limits: Shadow) -> ShadowResult:
    """The shadow verdict from the queried values (None: no data)."""
    figures = figures_of(values)
    if figures.requests < limits.min_requests:
        return ShadowInconclusive(
            f"{figures.requests:.0f} shadowed answers in the window, fewer than minRequests {limits.min_requests}; "
            "waiting",
            figures,
        )
    would, stable = figures.candidate_would_block, figures.stable_block
    checks = [
        ("disagreement", figures.disagreement, limits.max_disagreement),
        (
            "wouldBlockIncrease",
            None if would is None or stable is None else would - stable,
            limits.max_would_block_increase,
        ),
    ]
    passed = []
    for name, value, limit in checks:
        if value is None:
            return ShadowInconclusive(f"no data for {name} in the shadow window", figures)
        if value > limit:
            return ShadowFailed(name, value, limit, figures)
        passed.append(CheckValue(name, value, limit))
    return ShadowPassed(figures.requests, tuple(passed), figures)


def describe(result: ShadowResult) -> str:
    """The result in words, with every figure (status message, Event)."""
    f = result.figures
    parts = [f"{f.requests:.0f} shadowed answers"]
    for label, value, scale, unit in (
        ("disagreement", f.disagreement, 100, "%"),
        ("candidate would block", f.candidate_would_block, 100, "%"),
        ("stable blocks", f.stable_block, 100, "%"),
        ("score shift", f.score_shift, 1, ""),
        ("added scoring cost", f.added_cost_ms, 1, " ms/answer"),
        ("dropped", f.dropped, 1, ""),
    ):
        if value is not None:
            parts.append(f"{label} {value * scale:.3g}{unit}")
    if isinstance(result, ShadowFailed):
        head = f"shadow analysis failed: {result.check} is {result.value:.4g}, above the limit {result.limit:.4g}"
    elif isinstance(result, ShadowInconclusive):
        head = f"shadow analysis inconclusive: {result.reason}"
    else:
        head = "shadow analysis passed"
    return f"{head} ({', '.join(parts)})"


def analyse_shadow(query: QueryFn, window: AnalysisWindow, limits: Shadow) -> ShadowResult:
    """Run the queries and judge; metrics that cannot be read are inconclusive (never a pass)."""
    try:
        values = {name: _finite(query(promql)) for name, promql in shadow_queries(window).items()}
    except AnalysisError as exc:
        return ShadowInconclusive(f"shadow metrics unavailable ({exc}); waiting")
    return judge(values, limits)


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) or math.isinf(value) else value
