"""Verdicts: block below threshold, flag below softLimit, weakest claim decides, backend errors per policy."""

from __future__ import annotations

import pytest

from guardrail_sidecar.scoring.verdict import ClaimScore, Evidence, aggregate, on_backend_error, verdict_for


@pytest.mark.parametrize(
    ("score", "verdict"), [(0.0, "block"), (0.49, "block"), (0.5, "flag"), (0.64, "flag"), (0.65, "pass")]
)
def test_verdict_bands(score: float, verdict: str) -> None:
    assert verdict_for(score, threshold=0.5, soft_limit=0.65) == verdict


def test_weakest_claim_decides_and_evidence_ids_are_kept() -> None:
    ev = Evidence("kb-1", "text", "kb")
    result = aggregate(
        [ClaimScore("good claim", 0.9, ev), ClaimScore("bad claim", 0.2, None)],
        threshold=0.5,
        soft_limit=0.65,
    )
    assert result.verdict == "block"
    assert result.score == pytest.approx(0.2)
    assert "bad claim" in result.reason
    assert result.evidence_ids == ("kb-1",)


def test_nothing_to_check_passes() -> None:
    assert aggregate([], 0.5, 0.65).verdict == "pass"


def test_backend_error_policy() -> None:
    assert on_backend_error("fail-closed", "down").verdict == "block"
    opened = on_backend_error("fail-open", "down")
    assert opened.verdict == "pass"
    assert opened.backend_error
