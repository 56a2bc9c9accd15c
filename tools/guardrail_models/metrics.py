"""Ranking and threshold metrics for binary scores (pure numpy; label 1 = the positive class)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
Metric = Callable[[Array, Array], float]


def _arrays(labels: Sequence[int] | Array, scores: Sequence[float] | Array) -> tuple[Array, Array]:
    y = np.asarray(labels, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"labels and scores must be 1-d and the same length, got {y.shape} and {s.shape}")
    return y, s


def auroc(labels: Sequence[int] | Array, scores: Sequence[float] | Array) -> float:
    """Area under the ROC curve (Mann-Whitney U with ties counted half); nan if one class is absent."""
    y, s = _arrays(labels, scores)
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_scores = s[order]
    ranks[order] = np.arange(1, len(s) + 1)
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    for start, count in zip(first, counts, strict=True):
        if count > 1:
            ranks[order[start : start + count]] = start + (count + 1) / 2.0
    u = ranks[y == 1].sum() - positives * (positives + 1) / 2.0
    return float(u / (positives * negatives))


def rates(labels: Sequence[int] | Array, scores: Sequence[float] | Array, threshold: float) -> dict[str, float]:
    """Confusion-derived rates at `score >= threshold` → positive."""
    y, s = _arrays(labels, scores)
    predicted = s >= threshold
    tp = float(np.sum(predicted & (y == 1)))
    fp = float(np.sum(predicted & (y == 0)))
    positives, negatives = float(np.sum(y == 1)), float(np.sum(y == 0))
    recall = tp / positives if positives else float("nan")
    specificity = (negatives - fp) / negatives if negatives else float("nan")
    precision = tp / (tp + fp) if tp + fp else float("nan")
    return {
        "precision": precision,
        "recall": recall,
        "specificity": specificity,
        "balanced_accuracy": (recall + specificity) / 2.0,
        "fpr": fp / negatives if negatives else float("nan"),
    }


def balanced_accuracy(labels: Sequence[int] | Array, scores: Sequence[float] | Array, threshold: float) -> float:
    return rates(labels, scores, threshold)["balanced_accuracy"]


def best_threshold(labels: Sequence[int] | Array, scores: Sequence[float] | Array) -> tuple[float, float]:
    """(threshold, balanced accuracy) maximising balanced accuracy over the observed scores."""
    y, s = _arrays(labels, scores)
    best = (float("nan"), -1.0)
    for threshold in np.unique(s):
        value = balanced_accuracy(y, s, float(threshold))
        if value > best[1]:
            best = (float(threshold), value)
    return best


def recall_at_fpr(labels: Sequence[int] | Array, scores: Sequence[float] | Array, max_fpr: float = 0.01) -> float:
    """Recall at the lowest threshold whose false-positive rate on the negatives stays ≤ `max_fpr`."""
    y, s = _arrays(labels, scores)
    negatives = np.sort(s[y == 0])[::-1]
    allowed = int(np.floor(max_fpr * len(negatives)))
    # scores strictly above the (allowed+1)-th highest negative keep at most `allowed` false positives
    threshold = negatives[allowed] if allowed < len(negatives) else -np.inf
    return float(np.mean(s[y == 1] > threshold))


def pairwise_win_rate(positive: Sequence[float] | Array, negative: Sequence[float] | Array) -> float:
    """Share of items whose positive twin scores above its negative twin (ties count half)."""
    p, n = np.asarray(positive, dtype=np.float64), np.asarray(negative, dtype=np.float64)
    return float(np.mean((p > n) + 0.5 * (p == n)))


def length_score(texts: Sequence[str]) -> Array:
    """The length-only baseline for grounding: shorter answers look more supported (-word count)."""
    return -np.array([len(t.split()) for t in texts], dtype=np.float64)


def bootstrap_ci(
    metric: Metric, labels: Array, scores: Array, samples: int = 500, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of `metric` resampling items with replacement (seeded)."""
    y, s = _arrays(labels, scores)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(samples):
        index = rng.integers(0, len(y), len(y))
        value = metric(y[index], s[index])
        if not np.isnan(value):
            values.append(value)
    if not values:
        return (float("nan"), float("nan"))
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return (float(low), float(high))


def threshold_for_false_block(
    labels: Sequence[int] | Array, scores: Sequence[float] | Array, max_false_block: float = 0.05
) -> dict[str, float]:
    """The highest threshold (an observed score of a supported item) that blocks (`score < threshold`) at most
    `max_false_block` of the supported items (label 1), and what it does there: the share of supported items
    blocked (`false_block`) and of unsupported items blocked (`caught`)."""
    y, s = _arrays(labels, scores)
    supported, unsupported = np.sort(s[y == 1]), s[y == 0]
    if not len(supported) or not len(unsupported):
        return {"threshold": float("nan"), "false_block": float("nan"), "caught": float("nan")}
    allowed = int(np.floor(max_false_block * len(supported) + 1e-9))
    # below the (allowed+1)-th lowest supported score: at most `allowed` supported items (ties are not blocked)
    threshold = float(supported[allowed]) if allowed < len(supported) else float(np.nextafter(supported[-1], np.inf))
    return {
        "threshold": threshold,
        "false_block": float(np.mean(supported < threshold)),
        "caught": float(np.mean(unsupported < threshold)),
    }


def reliability(labels: Sequence[int] | Array, scores: Sequence[float] | Array, bins: int = 10) -> dict[str, Any]:
    """Reliability curve of probability scores in [0, 1]: per equal-width bin the mean score, the observed share of
    label 1 and the count; the expected calibration error (count-weighted |mean score - share|) and the Brier
    score. A calibrated scorer's points lie on the diagonal."""
    y, s = _arrays(labels, scores)
    if np.any((s < 0) | (s > 1)):
        raise ValueError("a reliability curve needs scores in [0, 1]")
    index = np.minimum((s * bins).astype(int), bins - 1)
    curve, ece = [], 0.0
    for b in range(bins):
        members = index == b
        count = int(members.sum())
        if not count:
            continue
        mean_score, share = float(s[members].mean()), float(y[members].mean())
        curve.append(
            {"low": b / bins, "high": (b + 1) / bins, "n": count, "mean_score": mean_score, "positive_rate": share}
        )
        ece += count / len(s) * abs(mean_score - share)
    return {"bins": curve, "ece": ece, "brier": float(np.mean((s - y) ** 2))}
