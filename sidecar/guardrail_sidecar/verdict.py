"""From claim scores to a verdict: pure functions, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Verdict = Literal["pass", "flag", "block"]


@dataclass(frozen=True)
class Evidence:
    """A passage an answer can be checked against: from the knowledge base or the request itself."""

    id: str
    text: str
    source: Literal["kb", "request"]
    similarity: float = 0.0


@dataclass(frozen=True)
class ClaimScore:
    """A claim and its grounding score against its best evidence (None when no evidence exists)."""

    claim: str
    score: float
    evidence: Evidence | None


@dataclass(frozen=True)
class Assessment:
    verdict: Verdict
    score: float
    claims: tuple[ClaimScore, ...] = ()
    reason: str = ""
    backend_error: bool = False
    evidence_ids: tuple[str, ...] = field(default=())


def verdict_for(score: float, threshold: float, soft_limit: float) -> Verdict:
    """block below `threshold`, flag below `soft_limit`, pass otherwise."""
    if score < threshold:
        return "block"
    if score < soft_limit:
        return "flag"
    return "pass"


def aggregate(claims: list[ClaimScore], threshold: float, soft_limit: float) -> Assessment:
    """An answer is as grounded as its weakest claim; an answer with nothing to check passes."""
    if not claims:
        return Assessment("pass", 1.0, (), "no checkable claims")
    weakest = min(claims, key=lambda c: c.score)
    verdict = verdict_for(weakest.score, threshold, soft_limit)
    reason = "" if verdict == "pass" else f"weakest claim scored {weakest.score:.3f}: {weakest.claim[:200]}"
    ids = tuple(dict.fromkeys(c.evidence.id for c in claims if c.evidence is not None))
    return Assessment(verdict, weakest.score, tuple(claims), reason, evidence_ids=ids)


def on_backend_error(policy: Literal["fail-closed", "fail-open"], error: str) -> Assessment:
    """The verdict when scoring could not run: fail-closed blocks, fail-open passes (flagged in metrics)."""
    if policy == "fail-open":
        return Assessment("pass", 1.0, (), f"backend error, failing open: {error}", backend_error=True)
    return Assessment("block", 0.0, (), f"backend error, failing closed: {error}", backend_error=True)
