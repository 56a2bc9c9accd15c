"""One reconcile: observe the children, apply what differs, prune what is no longer wanted, write status.

Level-based and idempotent: the same observed state always yields the same writes, and a second run over
an unchanged cluster writes nothing. All decisions come from pure modules (`builders`, `diff`, `status`);
this module only sequences them around the `KubeClient`, the Qdrant probe and the clock it is given.
Calls for the same Guardrail are serialised, and calls arriving while one runs are coalesced into one rerun.
Knowledge-base ingestion (`kb_sync` at the edge, `kb_ingestion` deciding) is observed before the rollout
step, because a newly ingested version changes the revision the rollout sees.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from guardrail_contract.durations import rfc3339
from guardrail_contract.guardrail import Guardrail, GuardrailStatus
from guardrail_operator import builders
from guardrail_operator.builders.common import children_selector
from guardrail_operator.builders.event import build_event
from guardrail_operator.builders.qdrant import (
    build_qdrant_api_key_secret,
    generated_api_key_name,
    generates_api_key,
    qdrant_name,
    qdrant_url,
)
from guardrail_operator.builders.triton import triton_name
from guardrail_operator.clients.k8s import KubeClient
from guardrail_operator.clients.prometheus import Prometheus
from guardrail_operator.controller import gate_sync, kb_sync, tracing
from guardrail_operator.controller.metrics import Metrics
from guardrail_operator.errors import Conflict, Invalid, KubeError, NotFound
from guardrail_operator.kb import ingestion as kb_ingestion
from guardrail_operator.reconcile import diff
from guardrail_operator.reconcile.observed import Observed, ProbeResult, workload_state
from guardrail_operator.reconcile.status import Event, compute_status, status_patch, transition_events
from guardrail_operator.rollout.actions import AnalysisWindow, Decision, Prune
from guardrail_operator.rollout.analysis import AnalysisResult, analyse
from guardrail_operator.rollout.children import observe_rollout, rollout_children, served
from guardrail_operator.rollout.machine import analysis_due, step
from guardrail_operator.settings import KB_IMAGE

log = logging.getLogger(__name__)
Key = tuple[str, str]
INGESTION_POLL = timedelta(seconds=10)  # how often a running ingestion Job is looked at


def describe_validation_error(exc: ValidationError) -> str:
    """`spec.a.b: message; ...` in the wire (camelCase) names a user wrote."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        parts.append(f"{where}: {err['msg']}")
    return "invalid spec: " + "; ".join(parts)


def parse_status(raw: Any) -> GuardrailStatus:
    """The stored status, or an empty one if it cannot be read (it is recomputed anyway)."""
    try:
        return GuardrailStatus.model_validate(raw or {})
    except ValidationError:
        return GuardrailStatus()


def analyse_with_prometheus(guardrail: Guardrail, window: AnalysisWindow) -> AnalysisResult:
    """Canary analysis against the Prometheus named in the spec (`analysis_due` only asks when there is one)."""
    analysis = guardrail.spec.rollout.analysis
    if analysis.prometheus is None:
        raise ValueError("analysis requested without spec.rollout.analysis.prometheus")
    if window.stage == "shadow":  # the shadow stage before step 1 (`rollout.gates`)
        return gate_sync.analyse_shadow_stage(guardrail, window)
    with Prometheus(analysis.prometheus.url) as prometheus:
        return analyse(prometheus.query, window, analysis)


@dataclass(frozen=True)
class Outcome:
    """What one reconcile did."""

    status: GuardrailStatus
    applied: list[Key] = field(default_factory=list)
    pruned: list[Key] = field(default_factory=list)
    status_written: bool = False
    events: list[Event] = field(default_factory=list)
    requeue_after: timedelta | None = None


@dataclass
class Reconciler:
    kube: KubeClient
    fetcher_image: str
    probe: Callable[[str], ProbeResult]
    metrics: Metrics
    identity: str = "guardrail-operator"
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    analyse: Callable[[Guardrail, AnalysisWindow], AnalysisResult] = analyse_with_prometheus
    # Called with (namespace, name, seconds) when the rollout wants to be reconciled again (a step ends).
    requeue: Callable[[str, str, float], None] | None = None
    kb_image: str = KB_IMAGE  # image of knowledge-base ingestion Jobs (`guardrail kb ingest`)
    new_api_key: Callable[[], str] = lambda: secrets.token_urlsafe(32)  # the generated Qdrant API key
    _guard: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _locks: dict[Key, threading.Lock] = field(default_factory=dict, repr=False)
    _pending: dict[Key, bool] = field(default_factory=dict, repr=False)  # key -> prune wanted

    def reconcile(self, body: Mapping[str, Any]) -> Outcome | None:
        """Reconcile the Guardrail `body` (as delivered by a watch); None if it is being deleted."""
        meta = body.get("metadata", {})
        key = (str(meta.get("namespace")), str(meta.get("name")))
        lock = self._lock(key)
        with lock:
            outcome = self._timed(dict(body), prune=True)
            return self._drain(key) or outcome

    def reconcile_by_name(self, namespace: str, name: str, prune: bool = True) -> Outcome | None:
        """Read the Guardrail fresh and reconcile it; a call while one runs only schedules one rerun.

        `prune=False` deletes nothing: the path for a child's readiness change, where no child can have
        become obsolete.
        """
        key = (namespace, name)
        lock = self._lock(key)
        with self._guard:
            self._pending[key] = self._pending.get(key, False) or prune
        if not lock.acquire(blocking=False):
            return None  # the call holding the lock sees the pending mark and runs once more
        try:
            return self._drain(key)
        finally:
            lock.release()

    def _drain(self, key: Key) -> Outcome | None:
        """With the key's lock held: rerun (reading the Guardrail fresh) while reruns are pending."""
        outcome = None
        while True:
            with self._guard:
                if key not in self._pending:
                    return outcome
                full = self._pending.pop(key)
            try:
                body = self.kube.get("Guardrail", *key)
            except NotFound:
                self.metrics.set_phase(*key, None)
                return None
            outcome = self._timed(body, prune=full)

    def _lock(self, key: Key) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _timed(self, body: dict[str, Any], prune: bool) -> Outcome | None:
        started = time.perf_counter()
        meta = body.get("metadata", {})
        with tracing.reconcile(str(meta.get("namespace")), str(meta.get("name")), prune) as span:
            try:
                outcome = self._reconcile(body, prune)
            except KubeError as exc:
                self.metrics.reconciles.labels(result="error").inc()
                self.metrics.errors.labels(error=type(exc).__name__).inc()
                raise
            finally:
                self.metrics.duration.observe(time.perf_counter() - started)
            tracing.reconciled(span, outcome)
        self.metrics.reconciles.labels(result="ok").inc()
        return outcome

    def _reconcile(self, body: dict[str, Any], prune: bool) -> Outcome | None:
        meta = body.get("metadata", {})
        if meta.get("deletionTimestamp"):
            return None  # children go with it through their owner references
        namespace = str(meta["namespace"])
        old = parse_status(body.get("status"))
        generation = int(meta.get("generation", 0))
        try:
            guardrail = Guardrail.model_validate(body)
        except ValidationError as exc:
            return self._finish(body, old, generation, Observed(spec_error=describe_validation_error(exc)))
        now = self.clock()
        observed = self.kube.list_children(namespace, children_selector(guardrail))
        ingestion = kb_sync.observe_ingestion(self.kube, guardrail, observed, self.kb_image)
        guardrail = kb_ingestion.pin(guardrail, None if ingestion is None else ingestion.plan.status)
        decision = self._decide(guardrail, observed, now)
        desired = rollout_children(guardrail, decision.actions, self.fetcher_image)
        plan = diff.plan(desired, observed, str(meta["uid"]), self.kube.field_manager)
        if generates_api_key(guardrail):
            self._ensure_api_key(guardrail, observed)
        applied: list[Key] = []
        rejected: list[str] = []
        for manifest in plan.apply:
            try:
                observed[diff.key_of(manifest)] = self.kube.apply(manifest)
            except Invalid as exc:  # e.g. an immutable field changed: the other children still get applied
                rejected.append(
                    f"the API server rejected {manifest['kind']} {manifest['metadata']['name']}: {exc.message}"
                )
                continue
            applied.append(diff.key_of(manifest))
            self.metrics.writes.labels(action="apply").inc()
        if rejected:
            facts = Observed(spec_error="; ".join(rejected), error_reason="ChildRejected")
            return self._finish(body, old, generation, facts)
        # Prune only on a full reconcile, and only when the rollout knows what to keep (see `rollout.Prune`).
        pruned = plan.prune if prune and any(isinstance(a, Prune) for a in decision.actions) else []
        for kind, child in pruned:
            self.kube.delete(kind, namespace, child)
            observed.pop((kind, child), None)
            self.metrics.writes.labels(action="prune").inc()
        failure = None if ingestion is None else self._ingest(guardrail, ingestion, decision, prune)
        facts = replace(self._observe_stable(guardrail, decision, observed), ingestion_failure=failure)
        outcome = self._finish(body, old, generation, facts, decision)
        requeue_after = decision.requeue_after
        if ingestion is not None and ingestion.plan.poll:  # Jobs are not watched: look again soon
            requeue_after = min(requeue_after or INGESTION_POLL, INGESTION_POLL)
        if requeue_after is not None and self.requeue is not None:
            self.requeue(namespace, str(meta["name"]), requeue_after.total_seconds())
        return Outcome(outcome.status, applied, list(pruned), outcome.status_written, outcome.events, requeue_after)

    def _ensure_api_key(self, guardrail: Guardrail, observed: dict[Key, Any]) -> None:
        """Create the managed Qdrant's API key Secret once; never read, replaced or logged.

        The operator may create Secrets but not read them, so it tries only while Qdrant is not serving
        (a serving Qdrant proves its Secret exists); `Conflict` means the Secret is there and is kept.
        """
        name = qdrant_name(guardrail)
        if workload_state(name, observed.get(("StatefulSet", name))).available:
            return
        try:
            self.kube.create(build_qdrant_api_key_secret(guardrail, self.new_api_key()))
        except Conflict:
            return
        except KubeError as exc:  # never echo an API message that might quote the request body
            secret = generated_api_key_name(guardrail)
            raise KubeError(exc.status, exc.reason, f"could not create Secret {secret}") from None
        self.metrics.writes.labels(action="apply").inc()

    def _ingest(
        self, guardrail: Guardrail, ingestion: kb_sync.Ingestion, decision: Decision, prune: bool
    ) -> tuple[str, str] | None:
        """Carry out the ingestion plan (`prune=False`: no old Job is deleted); the failure to report."""
        plan = ingestion.plan if prune else replace(ingestion.plan, delete=())
        failure = kb_sync.carry_out(
            self.kube, guardrail, replace(ingestion, plan=plan), decision, self.kb_image, self.fetcher_image
        )
        self.metrics.writes.labels(action="apply").inc(plan.start and failure is None)
        self.metrics.writes.labels(action="prune").inc(len(plan.delete))
        return failure

    def _decide(self, guardrail: Guardrail, observed: dict[Key, Any], now: datetime) -> Decision:
        """The rollout's next step; analysis (Prometheus) only when a step interval has ended."""
        window = analysis_due(guardrail, now)
        result: AnalysisResult | None = None
        if window is not None:
            with tracing.analysis(window) as span:
                if window.stage == "eval":  # the eval gate: its Job's result (`gate_sync`)
                    result = gate_sync.run_eval_gate(self.kube, guardrail, window, self.kb_image)
                else:
                    result = self.analyse(guardrail, window)
                tracing.analysed(span, result)
        return step(guardrail, observe_rollout(observed), result, now)

    def _observe_stable(self, guardrail: Guardrail, decision: Decision, observed: dict[Key, Any]) -> Observed:
        """Readiness facts of the revision serving stable traffic (a canary's health is the rollout's)."""
        stable = next((e for e in served(decision.actions) if e.role == "stable"), None)
        if stable is None:
            return self._observe(guardrail, builders.revisions_of(guardrail), observed)
        at_stable = guardrail.model_copy(update={"spec": stable.spec})
        return self._observe(at_stable, builders.Revisions(stable.revision, stable.model_revision), observed)

    def _observe(self, guardrail: Guardrail, revisions: builders.Revisions, observed: dict[Key, Any]) -> Observed:
        triton = triton_name(guardrail, revisions.model_revision)
        kb = guardrail.spec.knowledge_base
        qdrant = None
        external = None
        if kb is not None and kb.qdrant.managed is not None:
            qdrant = workload_state(qdrant_name(guardrail), observed.get(("StatefulSet", qdrant_name(guardrail))))
        elif kb is not None and kb.qdrant.external is not None:
            external = self.probe(kb.qdrant.external.url)
        return Observed(
            revision=revisions.revision,
            model_revision=revisions.model_revision,
            triton=workload_state(triton, observed.get(("Deployment", triton))),
            qdrant=qdrant,
            external_qdrant=external,
            external_qdrant_url=qdrant_url(guardrail) or "",
        )

    def _finish(
        self,
        body: dict[str, Any],
        old: GuardrailStatus,
        generation: int,
        facts: Observed,
        decision: Decision | None = None,
    ) -> Outcome:
        meta = body["metadata"]
        namespace, name = str(meta["namespace"]), str(meta["name"])
        now = self.clock()
        base = old if decision is None else decision.status  # the rollout's decision owns the rollout fields
        new = compute_status(base, generation, namespace, facts, rfc3339(now))
        patch = status_patch(body.get("status"), new)
        if patch is not None:
            try:
                self.kube.patch_status("Guardrail", namespace, name, patch)
            except NotFound:
                return Outcome(new)
            self.metrics.writes.labels(action="status").inc()
        events = transition_events(old, new)
        if decision is not None:
            events += [Event(e.type, e.reason, e.message) for e in decision.events]
        for event in events:
            manifest = build_event(
                namespace,
                name,
                str(meta["uid"]),
                event.type,
                event.reason,
                event.message,
                rfc3339(now),
                self.identity,
            )
            try:
                self.kube.create(manifest)
                self.metrics.writes.labels(action="event").inc()
            except KubeError as exc:  # an Event is informative: never fail a reconcile over it
                log.warning("could not post event %s for %s/%s: %s", event.reason, namespace, name, exc)
        self.metrics.set_phase(namespace, name, new.phase, new.conditions)
        return Outcome(new, status_written=patch is not None, events=events)
