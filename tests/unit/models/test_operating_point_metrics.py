"""The operating-point metrics `guardrail eval` prints: the threshold for a false-block rate, and reliability."""

from __future__ import annotations

import numpy as np
import pytest

from guardrail_models.calibrate import apply_platt, fit_platt
from guardrail_models.evaluation import Run, rank
from guardrail_models.metrics import reliability, threshold_for_false_block


def test_threshold_blocks_at_most_the_requested_share_of_supported_claims() -> None:
    rng = np.random.default_rng(5)
    labels = np.array([1] * 200 + [0] * 200)
    scores = np.concatenate([rng.beta(5, 2, 200), rng.beta(2, 5, 200)])
    for rate in (0.0, 0.01, 0.05, 0.2):
        found = threshold_for_false_block(labels, scores, rate)
        blocked = np.mean(scores[labels == 1] < found["threshold"])
        assert blocked <= rate
        assert found["false_block"] == pytest.approx(blocked)
        assert found["caught"] == pytest.approx(np.mean(scores[labels == 0] < found["threshold"]))
        # the highest such threshold: one step up would block one more supported claim than allowed
        higher = np.sort(scores[labels == 1])[int(np.floor(rate * 200)) :]
        above = higher[higher > found["threshold"]]
        if len(above):
            assert np.mean(scores[labels == 1] < above[0]) > rate


def test_threshold_for_false_block_on_a_hand_made_set() -> None:
    labels = [1, 1, 1, 1, 0, 0, 0, 0]
    scores = [0.2, 0.6, 0.7, 0.9, 0.1, 0.3, 0.5, 0.65]
    # 25% allowed: one of four supported claims may be blocked, so block below 0.6
    assert threshold_for_false_block(labels, scores, 0.25) == {"threshold": 0.6, "false_block": 0.25, "caught": 0.75}
    assert threshold_for_false_block(labels, scores, 0.0)["threshold"] == 0.2


def test_reliability_of_a_calibrated_and_an_overconfident_scorer() -> None:
    rng = np.random.default_rng(1)
    scores = rng.uniform(0, 1, 20000)
    labels = (rng.uniform(0, 1, 20000) < scores).astype(int)
    calibrated = reliability(labels, scores)
    overconfident = reliability(labels, np.where(scores > 0.5, 1.0, 0.0))
    assert calibrated["ece"] < 0.02
    assert overconfident["ece"] > 0.2
    assert sum(b["n"] for b in calibrated["bins"]) == 20000
    for b in calibrated["bins"]:
        assert b["low"] <= b["mean_score"] <= b["high"]
        assert b["positive_rate"] == pytest.approx(b["mean_score"], abs=0.05)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        reliability([0, 1], [-3.0, 2.0])


def test_platt_fit_recovers_the_map_that_made_the_labels() -> None:
    rng = np.random.default_rng(2)
    raw = rng.uniform(0.01, 0.99, 40000)
    truth = apply_platt(raw, 2.0, -1.0)
    labels = (rng.uniform(0, 1, len(raw)) < truth).astype(float)
    a, b = fit_platt(raw, labels)
    assert a == pytest.approx(2.0, abs=0.1)
    assert b == pytest.approx(-1.0, abs=0.1)
    assert np.all(np.diff(apply_platt(np.sort(raw), a, b)) >= 0)  # monotone: every AUROC is kept


def test_ranked_summaries_carry_the_operating_point_and_a_reliability_curve_for_probabilities() -> None:
    labels = np.array([1, 1, 1, 0, 0, 0], dtype=float)
    model = Run("model", 0.5, np.array([0.9, 0.8, 0.4, 0.3, 0.6, 0.1]))
    length = Run("length-only", None, np.array([-2.0, -3.0, -5.0, -9.0, -4.0, -8.0]))
    ranked = {row["name"]: row for row in rank([model, length], labels, samples=20, target_false_block=0.34)}
    assert ranked["model"]["false_block"] == pytest.approx(1 / 3)  # 0.4 < 0.5
    assert ranked["model"]["caught"] == pytest.approx(2 / 3)  # 0.3 and 0.1
    assert ranked["model"]["at_target_false_block"]["threshold"] == 0.8  # blocks 0.4 only: one in three
    assert "reliability" in ranked["model"]
    assert "reliability" not in ranked["length-only"]  # word counts are not probabilities
