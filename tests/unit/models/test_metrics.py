"""Metrics behave like their textbook definitions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from guardrail_models.metrics import (
    auroc,
    best_threshold,
    bootstrap_ci,
    length_score,
    pairwise_win_rate,
    rates,
    recall_at_fpr,
)


def brute_auroc(labels: list[int], scores: list[float]) -> float:
    pos = [s for s, y in zip(scores, labels, strict=True) if y == 1]
    neg = [s for s, y in zip(scores, labels, strict=True) if y == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_auroc_matches_pairwise_definition_with_ties() -> None:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 60).tolist()
    scores = rng.integers(0, 5, 60).astype(float).tolist()  # many ties
    assert auroc(labels, scores) == pytest.approx(brute_auroc(labels, scores))


def test_auroc_extremes_and_missing_class() -> None:
    assert auroc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert auroc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert np.isnan(auroc([1, 1], [0.3, 0.4]))


def test_rates_at_threshold() -> None:
    r = rates([1, 1, 0, 0], [0.9, 0.4, 0.6, 0.1], threshold=0.5)
    assert r["recall"] == 0.5
    assert r["specificity"] == 0.5
    assert r["precision"] == 0.5
    assert r["balanced_accuracy"] == 0.5


def test_best_threshold_separates_perfectly_separable_scores() -> None:
    threshold, accuracy = best_threshold([0, 0, 1, 1], [0.1, 0.3, 0.7, 0.9])
    assert accuracy == 1.0
    assert 0.3 < threshold <= 0.7


def test_recall_at_fpr_keeps_false_positives_within_budget() -> None:
    negatives = np.linspace(0, 1, 200)  # 1% of 200 = 2 allowed false positives
    positives = np.array([0.995, 0.999, 0.5, 1.5, 2.0])
    labels = [0] * 200 + [1] * 5
    scores = np.concatenate([negatives, positives])
    # the 3rd-highest negative is 0.98995: 0.995, 0.999, 1.5 and 2.0 pass at most 2 false positives
    assert recall_at_fpr(labels, scores, 0.01) == pytest.approx(4 / 5)


def test_pairwise_win_rate_counts_ties_half() -> None:
    assert pairwise_win_rate([1.0, 0.2, 0.5], [0.0, 0.9, 0.5]) == pytest.approx(0.5)


def test_length_score_prefers_shorter_answers() -> None:
    assert list(length_score(["a b c", "a"])) == [-3.0, -1.0]


def test_bootstrap_interval_brackets_the_estimate_and_is_seeded() -> None:
    rng = np.random.default_rng(0)
    labels = np.array([0, 1] * 50, dtype=float)
    scores = labels + rng.normal(0, 0.8, 100)
    low, high = bootstrap_ci(auroc, labels, scores, samples=200, seed=1)
    assert low < auroc(labels, scores) < high
    assert (low, high) == bootstrap_ci(auroc, labels, scores, samples=200, seed=1)
