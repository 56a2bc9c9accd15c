"""Class 1: no client can choose the revision that scores it.

The canary (here a looser revision would be a bypass) scores WEIGHT percent of requests. A client that sends
request ids picked to land in the canary's hash bucket, one id over and over, or headers a naive split might
read, must still see the canary at the weight's rate. The bound: with n requests at share p, the canary count
is binomial; the observed share must lie within p +- Z standard errors (Z = 4.5: a false failure about once
in 150,000 runs, while a steerable split, at a share of 1.0 or 0.0, fails by far).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import httpx
import pytest

from guardrail_sidecar.revisions.split import bucket

from .conftest import QUESTION, Calibration, Sidecar, StartSidecar, base_policy, revision

pytestmark = pytest.mark.integration

WEIGHT = 20
N = 400
Z = 4.5


def tolerance(p: float, n: int) -> float:
    return Z * math.sqrt(p * (1 - p) / n)


def canary_ids(n: int) -> list[str]:
    """Request ids an attacker would pick: each hashes into the canary's bucket (as the old split read it)."""
    return [i for i in (f"pick-{k}" for k in range(50 * n)) if bucket(i) < WEIGHT][:n]


STEERING: dict[str, Callable[[int], dict[str, str]]] = {
    "ids-hashed-into-the-canary-bucket": lambda k: {"x-request-id": canary_ids(N)[k]},
    "one-id-repeated": lambda k: {"x-request-id": "always-the-same"},
    "forwarded-for-and-user-agent": lambda k: {"x-forwarded-for": f"10.0.{k % 7}.1", "user-agent": f"agent/{k % 3}"},
    "revision-and-canary-headers": lambda k: {
        "x-guardrail-revision": "canary",
        "x-canary": "always",
        "x-canary-weight": "100",
        "cookie": "canary=1",
        "traceparent": f"00-{k:032x}-{k:016x}-01",
    },
}


@pytest.fixture(scope="module")
def split(start_sidecar: StartSidecar, calibration: Calibration) -> Sidecar:
    policy = base_policy(calibration)
    return start_sidecar(
        {"routing": {"canary": revision("canary", policy), "canaryWeight": WEIGHT}},
        name="split",
    )


def revisions(sidecar: Sidecar, headers_for: Callable[[int], dict[str, str]], n: int = N) -> list[str]:
    body = {"model": "m", "messages": [{"role": "user", "content": QUESTION}]}
    out = []
    with httpx.Client(timeout=60) as client:
        for k in range(n):
            headers = {"x-hostile-answer": "grounded", **headers_for(k)}
            response = client.post(sidecar.url + "/v1/chat/completions", json=body, headers=headers)
            out.append(response.headers["x-guardrail-revision"])
    return out


@pytest.mark.parametrize("strategy", list(STEERING))
def test_no_header_or_id_raises_the_canary_share_above_the_weight(split: Sidecar, strategy: str) -> None:
    seen = revisions(split, STEERING[strategy])
    assert set(seen) <= {"stable", "canary"}
    share = seen.count("canary") / len(seen)
    p, bound = WEIGHT / 100, tolerance(WEIGHT / 100, N)
    print(f"{strategy}: canary share {share:.3f} over {N} requests (weight {p}, bound +-{bound:.3f})")
    assert abs(share - p) <= bound, f"{strategy}: canary share {share:.3f}, weight {p} +- {bound:.3f}"


def test_sticky_header_is_opt_in_and_keeps_a_user_on_one_revision(
    start_sidecar: StartSidecar, calibration: Calibration
) -> None:
    policy = base_policy(calibration)
    sticky = start_sidecar(
        {"routing": {"canary": revision("canary", policy), "canaryWeight": WEIGHT, "stickyHeader": "x-user"}},
        name="sticky",
    )
    users = [f"user-{k}" for k in range(N)]
    seen = revisions(sticky, lambda k: {"x-user": users[k]})
    share = seen.count("canary") / len(seen)
    assert abs(share - WEIGHT / 100) <= tolerance(WEIGHT / 100, N)
    again = revisions(sticky, lambda k: {"x-user": users[k], "x-request-id": f"other-{k}"}, n=60)
    assert again == seen[:60]  # the same user stays on the same revision, whatever its request id
    # Documented, not a security boundary: whoever writes the sticky header picks its bucket.
    chosen = next(u for u in (f"pick-{k}" for k in range(1000)) if bucket(u) < WEIGHT)
    assert set(revisions(sticky, lambda k: {"x-user": chosen}, n=10)) == {"canary"}


def test_weight_zero_is_never_the_canary_whatever_the_client_sends(
    start_sidecar: StartSidecar, calibration: Calibration
) -> None:
    policy = base_policy(calibration)
    none = start_sidecar({"routing": {"canary": revision("canary", policy), "canaryWeight": 0}}, name="weight0")
    for strategy in STEERING.values():
        assert set(revisions(none, strategy, n=25)) == {"stable"}
