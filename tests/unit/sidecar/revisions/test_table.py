"""The routing table, pure: which revisions serve and the canary's share, from the file and the status."""

from __future__ import annotations

import pytest

from guardrail_contract.sidecar_config import RevisionConfig, Routing
from guardrail_sidecar.revisions.table import CanaryShare, Followed, RoutingTable, route


def rev(name: str) -> RevisionConfig:
    return RevisionConfig.model_validate(
        {"revision": name, "models": {"backend": "embedded", "embedded": {"repository": "/m"}}}
    )


S1, C1, C2, S2 = rev("s1"), rev("c1"), rev("c2"), rev("s2")
FILE = Routing(stable=S1, canary=C1, canary_weight=5)


@pytest.mark.parametrize(
    ("share", "followed", "expected"),
    [
        (None, None, RoutingTable(S1, C1, 5)),  # the file alone: its revisions and weight
        (CanaryShare("c1", 40), None, RoutingTable(S1, C1, 40)),  # the status decides the weight
        (CanaryShare("c9", 40), None, RoutingTable(S1, C1, 0)),  # ...of the canary served here only
        (CanaryShare("c1", 140), None, RoutingTable(S1, C1, 100)),  # clamped
        (CanaryShare("c2", 30), Followed(None, C2), RoutingTable(S1, C2, 30)),  # a canary started
        (CanaryShare("c1", 30), Followed(None, None), RoutingTable(S1, C1, 30)),  # the file's canary, still named
        (CanaryShare(None, 0), Followed(None, None), RoutingTable(S1, None, 0)),  # not named any more: dropped
        (CanaryShare(None, 0), Followed(S2, None), RoutingTable(S2, None, 0)),  # promoted
        (CanaryShare("s1", 50), Followed(S1, S1), RoutingTable(S1, None, 0)),  # a canary equal to stable: none
    ],
)
def test_route(share: CanaryShare | None, followed: Followed | None, expected: RoutingTable) -> None:
    assert route(FILE, share, followed) == expected


def test_no_canary_means_no_weight() -> None:
    assert route(Routing(stable=S1), CanaryShare("c1", 50), None) == RoutingTable(S1, None, 0)
