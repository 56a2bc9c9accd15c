"""kopf glue: every handler hands the event to the `Wiring` (the seams made at start-up) and returns nothing
(status is ours to write).

Run with `guardrail-operator`, or `kopf run -m guardrail_operator.controller.handlers --standalone --all-namespaces`.
Guardrails are followed with level-based event handlers rather than kopf's create/update/resume handlers:
those record progress in the object, which a standby replica would do too; an event handler stores nothing,
so only the leader ever writes. The drift timer's interval is read from the environment at import.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import kopf

from guardrail_contract.names import GROUP, KIND, PLURAL, VERSION
from guardrail_operator.builders.common import MANAGED_BY
from guardrail_operator.controller import tracing
from guardrail_operator.controller.wiring import Wiring
from guardrail_operator.errors import KubeError
from guardrail_operator.rollout.actions import rollout_request_pending
from guardrail_operator.settings import Settings, webhook_enabled

SETTINGS = Settings.from_env()
CHILDREN = {"app.kubernetes.io/managed-by": MANAGED_BY}

# The sidecar-injection webhook registers an admission handler, and kopf refuses to start with one but no
# webhook server, so it is imported only when it is enabled (GUARDRAIL_WEBHOOK_ENABLED, see `webhook`).
_WEBHOOK = webhook_enabled(os.environ)
if _WEBHOOK and importlib.util.find_spec("guardrail_operator.webhook.admission") is not None:
    importlib.import_module("guardrail_operator.webhook.admission")


def _wiring(memo: kopf.Memo) -> Wiring:
    wiring: Wiring = memo["guardrail_wiring"]
    return wiring


@kopf.on.startup()
async def start(*, settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
    settings.posting.enabled = False  # Events are posted by the reconciler, about transitions only
    settings.peering.standalone = True  # a Lease elects the leader; kopf peering is not leader election
    settings.execution.max_workers = 16
    tracing.configure()  # off unless the OTEL_* variables ask for it (docs/tracing.md)
    wiring = Wiring.create(SETTINGS)
    memo["guardrail_wiring"] = wiring
    await wiring.start()


@kopf.on.cleanup()
async def stop(*, memo: kopf.Memo, **_: Any) -> None:
    await _wiring(memo).stop()


@kopf.on.event(GROUP, VERSION, PLURAL)
def guardrail_changed(
    *, type: str, body: kopf.Body, status: kopf.Status, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    """Reconcile on create, spec change and (via the initial listing) resume; skip our own status writes."""
    wiring = _wiring(memo)
    if type == "DELETED":
        wiring.metrics.set_phase(body.metadata.namespace or "", body.metadata.name or "", None)
        return
    seen = status.get("observedGeneration") == body.metadata.get("generation")
    if not wiring.is_leader or (seen and not rollout_request_pending(body)):
        return
    try:
        wiring.reconciler.reconcile(body)
    except KubeError as exc:
        logger.warning(f"reconcile failed, the drift timer retries: {exc}")


@kopf.timer(GROUP, VERSION, PLURAL, interval=SETTINGS.resync_seconds, initial_delay=SETTINGS.resync_seconds)
def repair_drift(*, namespace: str | None, name: str, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """Re-reconcile from scratch: recreates deleted children and reverts hand edits."""
    wiring = _wiring(memo)
    if not wiring.is_leader:
        return
    try:
        wiring.reconciler.reconcile_by_name(namespace or "", name)
    except KubeError as exc:
        logger.warning(f"drift repair failed: {exc}")


@kopf.on.event("apps", "v1", "deployments", labels=CHILDREN)
@kopf.on.event("apps", "v1", "statefulsets", labels=CHILDREN)
def child_changed(*, type: str, body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """A workload of ours changed (readiness, hand edit, deletion): reconcile its Guardrail."""
    wiring = _wiring(memo)
    owner = next((r for r in body.metadata.get("ownerReferences", []) if r.get("kind") == KIND), None)
    if type is None or owner is None or not wiring.is_leader:
        return
    try:
        wiring.reconciler.reconcile_by_name(body.metadata.namespace or "", owner["name"], prune=False)
    except KubeError as exc:
        logger.warning(f"reconcile after a child change failed: {exc}")
