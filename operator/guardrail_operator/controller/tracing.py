"""The operator's spans (docs/tracing.md): one `guardrail.reconcile` span per reconcile of a Guardrail and a
`guardrail.analysis` span for each canary analysis inside it. Off unless the OTEL_* variables ask for it
(`guardrail_contract.tracing`); then these helpers cost a flag check."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sized
from datetime import timedelta
from typing import Protocol

from opentelemetry import trace
from opentelemetry.trace import Span

from guardrail_contract import tracing as names
from guardrail_contract.guardrail import GuardrailStatus
from guardrail_operator.rollout.actions import AnalysisWindow
from guardrail_operator.rollout.analysis import AnalysisResult, Failed, Inconclusive, Passed


class _State:
    """Set once at start-up (`configure`, or `use` in tests); read by every helper."""

    tracer: trace.Tracer = trace.NoOpTracer()
    enabled = False


_state = _State()


def configure() -> bool:
    """Set tracing up from the environment (at start-up, once); whether it is on."""
    use(names.configure("guardrail-operator"))
    return _state.enabled


def use(provider: trace.TracerProvider | None) -> None:
    """Trace with `provider` (None: tracing off)."""
    _state.tracer = provider.get_tracer("guardrail_operator") if provider is not None else trace.NoOpTracer()
    _state.enabled = provider is not None


@contextlib.contextmanager
def reconcile(namespace: str, name: str, prune: bool) -> Iterator[Span]:
    """One reconcile of the Guardrail `namespace/name` (an exception ends the span as an error)."""
    if not _state.enabled:
        yield trace.INVALID_SPAN
        return
    attributes: dict[str, str | bool] = {"k8s.namespace.name": namespace, names.NAMESPACE: namespace}
    attributes |= {names.GUARDRAIL: name, "guardrail.reconcile.prune": prune}
    with _state.tracer.start_as_current_span("guardrail.reconcile", attributes=attributes) as span:
        yield span


class ReconcileOutcome(Protocol):
    """What `reconciled` reads of the reconciler's `Outcome`."""

    @property
    def status(self) -> GuardrailStatus: ...
    @property
    def applied(self) -> Sized: ...
    @property
    def pruned(self) -> Sized: ...
    @property
    def status_written(self) -> bool: ...
    @property
    def requeue_after(self) -> timedelta | None: ...


def reconciled(span: Span, outcome: ReconcileOutcome | None) -> None:
    """What the reconcile did (None: the Guardrail is being deleted, nothing was done)."""
    if not span.is_recording():
        return
    if outcome is None:
        span.set_attribute("guardrail.reconcile.deleting", True)
        return
    span.set_attribute("guardrail.reconcile.applied", len(outcome.applied))
    span.set_attribute("guardrail.reconcile.pruned", len(outcome.pruned))
    span.set_attribute("guardrail.reconcile.status_written", outcome.status_written)
    if outcome.requeue_after is not None:
        span.set_attribute("guardrail.reconcile.requeue_after_seconds", outcome.requeue_after.total_seconds())
    if outcome.status.phase:
        span.set_attribute(names.ROLLOUT_PHASE, str(outcome.status.phase))
    if outcome.status.stable_revision:
        span.set_attribute(names.REVISION, outcome.status.stable_revision)


@contextlib.contextmanager
def analysis(window: AnalysisWindow) -> Iterator[Span]:
    """One canary analysis: the canary's metrics against the stable's over `window`."""
    if not _state.enabled:
        yield trace.INVALID_SPAN
        return
    attributes = {
        "guardrail.analysis.canary_revision": window.canary_revision,
        "guardrail.analysis.stable_revision": window.stable_revision,
        "guardrail.analysis.window": window.window,
    }
    with _state.tracer.start_as_current_span("guardrail.analysis", attributes=attributes) as span:
        yield span


def analysed(span: Span, result: AnalysisResult) -> None:
    if not span.is_recording():
        return
    match result:
        case Passed():
            span.set_attribute(names.ANALYSIS_RESULT, "passed")
            span.set_attribute("guardrail.analysis.canary_requests", result.canary_requests)
        case Failed():
            span.set_attribute(names.ANALYSIS_RESULT, "failed")
            span.set_attribute(names.ANALYSIS_FAILED_CHECK, result.check)
            span.set_attribute("guardrail.analysis.value", result.value)
            span.set_attribute("guardrail.analysis.limit", result.limit)
        case Inconclusive():
            span.set_attribute(names.ANALYSIS_RESULT, "inconclusive")
    span.set_attribute("guardrail.analysis.summary", result.describe())
