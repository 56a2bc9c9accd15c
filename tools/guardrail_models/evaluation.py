"""Run scoring configurations over an `EvalSet` and compare them (the offline A/B gate).

`run` is the only function with effects (it calls the scorer and reads the clock); everything else is pure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from guardrail_models.evalset import EvalSet
from guardrail_models.metrics import (
    auroc,
    best_threshold,
    bootstrap_ci,
    length_score,
    rates,
    reliability,
    threshold_for_false_block,
)

Scorer = Callable[[list[tuple[str, str]]], npt.ArrayLike]
Array = npt.NDArray[np.float64]
LENGTH_BASELINE = "length-only"
TARGET_FALSE_BLOCK = 0.05  # the share of supported claims a default threshold may block (issue 18)


@dataclass(frozen=True)
class Configuration:
    """A named way of scoring (evidence, claim) pairs, with the threshold below which a claim is blocked."""

    name: str
    scorer: Scorer
    threshold: float = 0.5
    close: Callable[[], None] | None = None  # stops what the configuration started (a server, a process)


@dataclass(frozen=True)
class Run:
    name: str
    threshold: float | None  # None: a baseline without a natural threshold (its best one is reported)
    scores: Array
    latencies_ms: Array = field(default_factory=lambda: np.zeros(0))


def run(
    config: Configuration, data: EvalSet, batch_size: int = 1, progress: Callable[[int], None] | None = None
) -> Run:
    """Score every pair, `batch_size` at a time, timing each call; latency is reported per pair."""
    pairs = data.pairs
    scores, latencies = np.zeros(len(pairs)), []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        began = time.perf_counter()
        scores[start : start + len(chunk)] = config.scorer(chunk)
        latencies.append((time.perf_counter() - began) * 1000.0 / len(chunk))
        if progress is not None:
            progress(len(chunk))
    return Run(config.name, config.threshold, scores, np.array(latencies))


def length_run(data: EvalSet) -> Run:
    return Run(LENGTH_BASELINE, None, length_score(data.answers))


def summarise(
    result: Run, labels: Array, samples: int = 500, seed: int = 0, target_false_block: float = TARGET_FALSE_BLOCK
) -> dict[str, Any]:
    """AUROC with its bootstrap CI, balanced accuracy/precision/recall at the threshold, best threshold, latency;
    the threshold that blocks at most `target_false_block` of the supported claims and the share of unsupported
    ones it blocks there; the false-block rate and catch rate at the configuration's own threshold; for scores
    that are probabilities (every configuration but the length baseline), the reliability curve."""
    best, best_accuracy = best_threshold(labels, result.scores)
    threshold = result.threshold if result.threshold is not None else best
    at = rates(labels, result.scores, threshold)
    low, high = bootstrap_ci(auroc, labels, result.scores, samples=samples, seed=seed)
    summary: dict[str, Any] = {
        "name": result.name,
        "n": len(labels),
        "auroc": auroc(labels, result.scores),
        "auroc_ci": [low, high],
        "threshold": threshold,
        "balanced_accuracy": at["balanced_accuracy"],
        "precision": at["precision"],
        "recall": at["recall"],
        "best_threshold": best,
        "best_balanced_accuracy": best_accuracy,
        "false_block": 1.0 - at["recall"],
        "caught": 1.0 - at["fpr"],
        "at_target_false_block": {
            "target": target_false_block,
            **threshold_for_false_block(labels, result.scores, target_false_block),
        },
    }
    if result.threshold is not None and np.all((result.scores >= 0) & (result.scores <= 1)):
        summary["reliability"] = reliability(labels, result.scores)
    if len(result.latencies_ms):
        p50, p95, p99 = np.percentile(result.latencies_ms, [50, 95, 99])
        summary["latency_ms"] = {"p50": float(p50), "p95": float(p95), "p99": float(p99)}
    return summary


def paired_win_share(a: Array, b: Array, labels: Array, samples: int = 500, seed: int = 0) -> float:
    """Share of paired bootstrap resamples in which `a` has the higher AUROC than `b` (same items for both);
    a tie counts half, so two identical configurations get 0.5."""
    rng = np.random.default_rng(seed)
    wins = 0.0
    for _ in range(samples):
        index = rng.integers(0, len(labels), len(labels))
        first, second = auroc(labels[index], a[index]), auroc(labels[index], b[index])
        wins += 1.0 if first > second else 0.5 if first == second else 0.0
    return wins / samples


def rank(
    results: list[Run],
    labels: Array,
    samples: int = 500,
    seed: int = 0,
    target_false_block: float = TARGET_FALSE_BLOCK,
) -> list[dict[str, Any]]:
    """Summaries best-first by AUROC; each carries how often the leader beat it across paired resamples."""
    summaries = sorted(
        ((summarise(r, labels, samples, seed, target_false_block), r) for r in results),
        key=lambda pair: -pair[0]["auroc"],
    )
    leader = summaries[0][1]
    ranked = []
    for position, (summary, result) in enumerate(summaries, start=1):
        summary["rank"] = position
        if result is not leader:
            summary["leader_wins_share"] = paired_win_share(leader.scores, result.scores, labels, samples, seed)
        ranked.append(summary)
    return ranked
