"""The routing table: which revisions score traffic and in what shares. Pure: no I/O, no pipelines.

Two sources decide it. The mounted config file (`routing`, reloaded when the ConfigMap changes) is the start;
once the sidecar follows its Guardrail (`watch`), the Guardrail's status wins: `status.stableRevision` and
`status.canary.{revision, weight}` with each revision's config read from the operator's ConfigMap for it.
`route` merges the two into a `RoutingTable`; `split.use_canary` draws each request's side.
"""

from __future__ import annotations

from dataclasses import dataclass

from guardrail_contract.sidecar_config import RevisionConfig, Routing


@dataclass(frozen=True)
class CanaryShare:
    """What the Guardrail's status says about the canary: its revision (None: no canary) and weight."""

    revision: str | None
    weight: int


@dataclass(frozen=True)
class Followed:
    """The revision configs the status watch read (None: keep the file's) and the canary's share."""

    stable: RevisionConfig | None
    canary: RevisionConfig | None


@dataclass(frozen=True)
class RoutingTable:
    stable: RevisionConfig
    canary: RevisionConfig | None
    weight: int  # percent of requests the canary scores, 0..100


def clamp(weight: int) -> int:
    return max(0, min(100, weight))


def route(file: Routing, share: CanaryShare | None = None, followed: Followed | None = None) -> RoutingTable:
    """The table for the file's `routing`, overridden by what the status watch followed (`share`, `followed`).

    Followed revisions win over the file's (a reload keeps them); the file's canary is kept only while the
    status names it. The weight is the file's until the status is known, then the status's weight when it
    names the canary served here, else 0 (no traffic to a canary this sidecar does not run)."""
    stable, canary = file.stable, file.canary
    if followed is not None:
        stable = followed.stable or file.stable
        named = share is not None and file.canary is not None and file.canary.revision == share.revision
        canary = followed.canary or (file.canary if named else None)
        if canary is not None and canary.revision == stable.revision:
            canary = None
    if canary is None:
        weight = 0
    elif share is None:
        weight = file.canary_weight
    else:
        weight = share.weight if share.revision == canary.revision else 0
    return RoutingTable(stable, canary, clamp(weight))
