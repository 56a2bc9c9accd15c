"""Start-up wiring: the seams (API client, probe, clock) created once, and leader election around them.

`Wiring.start` is called from kopf's startup handler; handlers reach the wiring through kopf's memo.
Every replica watches and serves the webhook; only the leader reconciles. A replica that becomes leader
reconciles every Guardrail once, then follows watch events and the drift timer.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from guardrail_operator.clients.k8s import KubeClient, load_api_client
from guardrail_operator.clients.probes import check_qdrant
from guardrail_operator.controller.leader import LeaderElector
from guardrail_operator.controller.metrics import Metrics, make_app, serve
from guardrail_operator.controller.reconciler import Reconciler
from guardrail_operator.errors import KubeError
from guardrail_operator.settings import Settings

log = logging.getLogger(__name__)


def _stop_process() -> None:
    """Ask kopf to stop gracefully (as on `kubectl delete pod`); the Deployment restarts us as a standby."""
    os.kill(os.getpid(), signal.SIGTERM)


@dataclass
class Wiring:
    settings: Settings
    kube: KubeClient
    reconciler: Reconciler
    metrics: Metrics
    elector: LeaderElector | None
    on_lost: Callable[[], None] = _stop_process
    _server: web.AppRunner | None = field(default=None, repr=False)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list, repr=False)
    _timers: dict[tuple[str, str], tuple[float, threading.Timer]] = field(default_factory=dict, repr=False)
    _timers_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def create(cls, settings: Settings) -> Wiring:
        kube = KubeClient(load_api_client(os.environ.get("KUBECONFIG")), settings.field_manager)
        metrics = Metrics()
        reconciler = Reconciler(
            kube=kube,
            fetcher_image=settings.fetcher_image,
            kb_image=settings.kb_image,
            probe=functools.partial(check_qdrant, timeout=settings.probe_timeout_seconds),
            metrics=metrics,
            identity=settings.identity,
        )
        elector = None
        if settings.leader_election:
            elector = LeaderElector(
                kube=kube,
                namespace=settings.lease_namespace,
                name=settings.lease_name,
                identity=settings.identity,
                duration=settings.lease_duration_seconds,
                renew_every=settings.lease_renew_seconds,
                retry_every=settings.lease_retry_seconds,
            )
        wiring = cls(settings, kube, reconciler, metrics, elector)
        reconciler.requeue = wiring.requeue
        return wiring

    def requeue(self, namespace: str, name: str, seconds: float) -> None:
        """Reconcile `namespace/name` again in `seconds` (a rollout step ends); keeps only the earliest timer."""
        key, due = (namespace, name), time.monotonic() + max(seconds, 0.0)
        with self._timers_lock:
            pending = self._timers.get(key)
            if pending is not None and pending[0] <= due and pending[1].is_alive():
                return
            if pending is not None:
                pending[1].cancel()
            timer = threading.Timer(max(seconds, 0.0) + 0.05, self._requeued, args=(namespace, name))
            timer.daemon = True
            self._timers[key] = (due, timer)
            timer.start()

    def _requeued(self, namespace: str, name: str) -> None:
        with self._timers_lock:
            self._timers.pop((namespace, name), None)
        if not self.is_leader:
            return
        try:
            self.reconciler.reconcile_by_name(namespace, name)
        except KubeError as exc:
            log.warning("timed reconcile of %s/%s failed, the drift timer retries: %s", namespace, name, exc)

    @property
    def is_leader(self) -> bool:
        return self.elector is None or self.elector.is_leader

    def health(self) -> dict[str, object]:
        return {"status": "ok", "leader": self.is_leader, "identity": self.settings.identity}

    async def start(self) -> None:
        """Serve metrics and start electing (without waiting: standbys keep serving the webhook)."""
        if self.settings.metrics_port:
            app = make_app(self.metrics, self.health)
            self._server = await serve(app, self.settings.metrics_host, self.settings.metrics_port)
        if self.elector is None:
            self.metrics.leader.set(1)
            self._tasks.append(asyncio.create_task(asyncio.to_thread(self.resync_all)))
        else:
            self._tasks.append(asyncio.create_task(self._lead(self.elector)))

    async def _lead(self, elector: LeaderElector) -> None:
        await elector.acquire()
        self.metrics.leader.set(1)
        resync = asyncio.create_task(asyncio.to_thread(self.resync_all))
        await elector.hold(self._lost)
        resync.cancel()

    def _lost(self) -> None:
        self.metrics.leader.set(0)
        self.on_lost()

    def resync_all(self) -> None:
        """Reconcile every watched Guardrail once (on becoming leader)."""
        namespaces: list[str | None] = list(self.settings.watch_namespaces) or [None]
        for namespace in namespaces:
            try:
                items = self.kube.list("Guardrail", namespace)
            except KubeError as exc:
                log.warning("could not list Guardrails for the initial resync: %s", exc)
                continue
            for item in items:
                meta: dict[str, Any] = item["metadata"]
                try:
                    self.reconciler.reconcile_by_name(meta["namespace"], meta["name"])
                except KubeError as exc:
                    log.warning("reconcile of %s/%s failed: %s", meta["namespace"], meta["name"], exc)

    async def stop(self) -> None:
        with self._timers_lock:
            for _, timer in self._timers.values():
                timer.cancel()
            self._timers.clear()
        for task in self._tasks:
            task.cancel()
        if self.elector is not None:
            await asyncio.to_thread(self.elector.release)
        if self._server is not None:
            await self._server.cleanup()
