"""From claim scores to a verdict: pure functions, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Verdict = Literal["pass", "flag", "block"]
# The stable reason codes clients see (`guardrail.reason`, `x-guardrail-reason`); details stay in the audit log.
ReasonCode = Literal[
    "grounded",
    "needs_review",
    "ungrounded",
    "prompt_injection",
    "exfiltration",
    "backend_unavailable",
    "pii_detected",
    "detector_blocked",
    "unreadable_answer",
    "upstream_error",
]
_CODE_OF: dict[Verdict, ReasonCode] = {"pass": "grounded", "flag": "needs_review", "block": "ungrounded"}


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
    """A decision: `code` is what the client is told, `reason` the details (audit log only, redacted)."""

    verdict: Verdict
    score: float
    claims: tuple[ClaimScore, ...] = ()
    reason: str = ""
    backend_error: bool = False
    evidence_ids: tuple[str, ...] = field(default=())
    code: ReasonCode = "grounded"


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
        return Assessment("pass", 1.0, (), "no checkable claims", code="grounded")
    weakest = min(claims, key=lambda c: c.score)
    verdict = verdict_for(weakest.score, threshold, soft_limit)
    reason = "" if verdict == "pass" else f"weakest claim scored {weakest.score:.3f}: {weakest.claim[:200]}"
    ids = tuple(dict.fromkeys(c.evidence.id for c in claims if c.evidence is not None))
    return Assessment(verdict, weakest.score, tuple(claims), reason, evidence_ids=ids, code=_CODE_OF[verdict])


def on_backend_error(policy: Literal["fail-closed", "fail-open"], error: str) -> Assessment:
    """The verdict when scoring could not run: fail-closed blocks, fail-open passes (flagged in metrics)."""
    if policy == "fail-open":
        return Assessment(
            "pass", 1.0, (), f"backend error, failing open: {error}", backend_error=True, code="backend_unavailable"
        )
    return Assessment(
        "block", 0.0, (), f"backend error, failing closed: {error}", backend_error=True, code="backend_unavailable"
    )


def unreadable(action: Literal["block", "pass"], detail: str) -> Assessment:
    """The verdict on an answer whose text cannot be read: blocked, or passed unchecked and flagged."""
    verdict: Verdict = "block" if action == "block" else "flag"
    return Assessment(verdict, 0.0, (), f"unreadable answer ({action}): {detail}", code="unreadable_answer")
