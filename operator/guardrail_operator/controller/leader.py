"""Leader election through a coordination.k8s.io Lease, so that of several replicas exactly one acts.

Like client-go, a standby judges expiry by its own clock: it takes over once the lease record (holder and
renew time) has not changed for a full lease duration, so clock skew between replicas does not matter. The
leader renews every `renew` seconds and gives up (the process then stops) once it cannot renew for a lease
duration minus one renew interval, before a standby may take over. A graceful stop releases the lease so
the standby takes over at its next check.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from guardrail_operator.clients.k8s import KubeClient
from guardrail_operator.errors import Conflict, KubeError, NotFound

log = logging.getLogger(__name__)


class Action(Enum):
    RENEW = "renew"
    ACQUIRE = "acquire"
    WAIT = "wait"


def decide(holder: str, me: str, unchanged_for: float, duration: float) -> Action:
    """What to do with a lease held by `holder` whose record we have seen unchanged for `unchanged_for` s."""
    if holder == me:
        return Action.RENEW
    if not holder or unchanged_for >= duration:
        return Action.ACQUIRE
    return Action.WAIT


def micro_time(now: datetime) -> str:
    """A Lease MicroTime: RFC 3339 with microseconds, UTC."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class LeaderElector:
    kube: KubeClient
    namespace: str
    name: str
    identity: str
    duration: float
    renew_every: float
    retry_every: float
    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], datetime] = lambda: datetime.now(UTC)
    is_leader: bool = False
    last_renewed: float = 0.0
    _seen: tuple[str, str] | None = field(default=None, repr=False)
    _seen_at: float = field(default=0.0, repr=False)

    def try_once(self) -> bool:
        """One acquire-or-renew round; returns whether this replica holds the lease afterwards."""
        now = self.monotonic()
        try:
            lease = self.kube.get("Lease", self.namespace, self.name)
        except NotFound:
            return self._write(None, now)
        spec: dict[str, Any] = lease.get("spec", {})
        record = (str(spec.get("holderIdentity") or ""), str(spec.get("renewTime") or ""))
        if record != self._seen:
            self._seen, self._seen_at = record, now
        duration = float(spec.get("leaseDurationSeconds") or self.duration)
        action = decide(record[0], self.identity, now - self._seen_at, duration)
        if action is Action.WAIT:
            self.is_leader = False
            return False
        return self._write(lease, now)

    def _write(self, lease: dict[str, Any] | None, now: float) -> bool:
        stamp = micro_time(self.wall())
        old: dict[str, Any] = {} if lease is None else lease.get("spec", {})
        renewing = old.get("holderIdentity") == self.identity
        spec = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(self.duration)),
            "acquireTime": old.get("acquireTime", stamp) if renewing else stamp,
            "renewTime": stamp,
            "leaseTransitions": int(old.get("leaseTransitions", 0)) + (0 if renewing or lease is None else 1),
        }
        body: dict[str, Any] = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": spec,
        }
        try:
            if lease is None:
                self.kube.create(body)
            else:
                body["metadata"]["resourceVersion"] = lease["metadata"]["resourceVersion"]
                self.kube.replace(body)
        except Conflict:
            self.is_leader = False
            return False
        if not self.is_leader:
            log.info("became leader (lease %s/%s, identity %s)", self.namespace, self.name, self.identity)
        self.is_leader, self.last_renewed = True, now
        self._seen, self._seen_at = (self.identity, stamp), now
        return True

    def release(self) -> None:
        """Hand the lease back (holder cleared) if we hold it; best effort."""
        if not self.is_leader:
            return
        try:
            lease = self.kube.get("Lease", self.namespace, self.name)
            if lease.get("spec", {}).get("holderIdentity") == self.identity:
                lease["spec"]["holderIdentity"] = ""
                self.kube.replace(lease)
        except KubeError as exc:
            log.warning("could not release lease %s/%s: %s", self.namespace, self.name, exc)
        self.is_leader = False

    async def acquire(self) -> None:
        """Wait until this replica is the leader."""
        while True:
            if await asyncio.to_thread(self._safe_try):
                return
            await asyncio.sleep(self.retry_every)

    async def hold(self, on_lost: Callable[[], None]) -> None:
        """Renew forever; call `on_lost` once leadership is lost or cannot be confirmed in time."""
        deadline = max(self.duration - self.renew_every, self.renew_every)
        while True:
            await asyncio.sleep(self.renew_every)
            held = await asyncio.to_thread(self._safe_try)
            if not held and (not self.is_leader or self.monotonic() - self.last_renewed >= deadline):
                log.error("lost leadership of lease %s/%s; stopping", self.namespace, self.name)
                self.is_leader = False
                on_lost()
                return

    def _safe_try(self) -> bool:
        try:
            return self.try_once()
        except (KubeError, OSError) as exc:
            log.warning("lease %s/%s: %s", self.namespace, self.name, exc)
            return False
