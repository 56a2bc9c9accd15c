"""The canary split: stable per request id, proportional to the weight, and following the Guardrail status."""

from __future__ import annotations

import random

from guardrail_sidecar.canary import bucket, use_canary
from guardrail_sidecar.k8s_watch import canary_weight


def test_same_request_id_always_gets_the_same_revision() -> None:
    assert {use_canary("req-42", 30) for _ in range(20)} == {use_canary("req-42", 30)}


def test_share_of_canary_requests_follows_the_weight() -> None:
    ids = [f"req-{i}" for i in range(4000)]
    share = sum(use_canary(i, 25) for i in ids) / len(ids)
    assert 0.22 < share < 0.28


def test_weight_bounds_and_missing_ids() -> None:
    assert not use_canary("x", 0)
    assert use_canary("x", 100)
    rng = random.Random(1)
    share = sum(use_canary(None, 50, rng) for _ in range(2000)) / 2000
    assert 0.45 < share < 0.55


def test_raising_the_weight_keeps_earlier_canary_requests_on_the_canary() -> None:
    ids = [f"r{i}" for i in range(500)]
    at_10 = {i for i in ids if use_canary(i, 10)}
    at_50 = {i for i in ids if use_canary(i, 50)}
    assert at_10 <= at_50
    assert all(0 <= bucket(i) < 100 for i in ids)


def test_weight_comes_from_status_only_for_our_canary_revision() -> None:
    guardrail = {"status": {"canary": {"revision": "9ab12e4", "weight": 30}}}
    assert canary_weight(guardrail, "9ab12e4") == 30
    assert canary_weight(guardrail, "other") == 0
    assert canary_weight({"status": {}}, "9ab12e4") == 0
    assert canary_weight(guardrail, None) == 0
