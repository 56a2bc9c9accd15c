"""Lease-based leader election: one leader, takeover after the lease duration, graceful release."""

from __future__ import annotations

import time
from typing import Any

import pytest

from guardrail_operator.controller.leader import Action, LeaderElector, decide
from guardrail_operator.errors import KubeError


@pytest.mark.parametrize(
    ("holder", "age", "expected"),
    [
        ("me", 0, Action.RENEW),
        ("me", 100, Action.RENEW),
        ("", 0, Action.ACQUIRE),
        ("other", 14.9, Action.WAIT),
        ("other", 15, Action.ACQUIRE),
    ],
)
def test_decide(holder: str, age: float, expected: Action) -> None:
    assert decide(holder, "me", age, 15) is expected


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def elector(kube: Any, identity: str, clock: Clock) -> LeaderElector:
    return LeaderElector(
        kube=kube,  # type: ignore[arg-type]
        namespace="ops",
        name="guardrail-operator",
        identity=identity,
        duration=3,
        renew_every=1,
        retry_every=0.5,
        monotonic=clock,
    )


def lease(kube: Any) -> dict[str, object]:
    spec: dict[str, object] = kube.objects[("Lease", "ops", "guardrail-operator")]["spec"]
    return spec


def test_first_replica_creates_the_lease_and_second_waits(new_kube: Any) -> None:
    kube, clock = new_kube(), Clock()
    a, b = elector(kube, "a", clock), elector(kube, "b", clock)
    assert a.try_once() is True
    assert b.try_once() is False
    assert lease(kube)["holderIdentity"] == "a"
    clock.now = 1
    assert a.try_once() is True  # renewal
    clock.now = 3.5
    assert b.try_once() is False  # a renewed at t=1: b saw a fresh record, so it waits a full duration again


def test_standby_takes_over_once_the_leader_stops_renewing(new_kube: Any) -> None:
    kube, clock = new_kube(), Clock()
    a, b = elector(kube, "a", clock), elector(kube, "b", clock)
    a.try_once()
    b.try_once()
    clock.now = 2.9
    assert b.try_once() is False
    clock.now = 3.0
    assert b.try_once() is True
    assert lease(kube)["holderIdentity"] == "b"
    assert lease(kube)["leaseTransitions"] == 1
    clock.now = 3.1
    assert a.try_once() is False
    assert a.is_leader is False


def test_release_lets_the_standby_in_immediately(new_kube: Any) -> None:
    kube, clock = new_kube(), Clock()
    a, b = elector(kube, "a", clock), elector(kube, "b", clock)
    a.try_once()
    b.try_once()
    a.release()
    assert b.try_once() is True


def test_lost_race_on_write_is_not_leadership(new_kube: Any) -> None:
    kube, clock = new_kube(), Clock()
    a, b = elector(kube, "a", clock), elector(kube, "b", clock)
    a.try_once()
    stale = kube.get("Lease", "ops", "guardrail-operator")
    a.try_once()  # bumps the resourceVersion
    assert b._write(stale, clock()) is False
    assert b.is_leader is False


async def test_hold_calls_on_lost_when_another_replica_took_the_lease(new_kube: Any) -> None:
    kube, clock = new_kube(), Clock()
    a = elector(kube, "a", clock)
    a.renew_every = 0.01
    a.try_once()
    spec = lease(kube)
    spec["holderIdentity"] = "intruder"
    lost: list[bool] = []
    await a.hold(lambda: lost.append(True))
    assert lost == [True]


async def test_leader_cut_off_from_the_api_server_rides_out_blips_then_stops(new_kube: Any) -> None:
    kube = new_kube()
    a = LeaderElector(
        kube=kube,
        namespace="ops",
        name="guardrail-operator",
        identity="a",
        duration=0.2,
        renew_every=0.02,
        retry_every=0.01,
    )
    assert a.try_once() is True

    def unreachable(*_: Any) -> Any:
        raise KubeError(0, "Unreachable", "connection refused")

    kube.get = unreachable
    lost_at: list[float] = []
    started = time.monotonic()
    await a.hold(lambda: lost_at.append(time.monotonic() - started))
    assert len(lost_at) == 1
    # Not on the first failed renewal, but once the renew deadline (duration - renew interval) has passed,
    # which is before a standby may take over.
    assert lost_at[0] >= 0.15
    assert a.is_leader is False
