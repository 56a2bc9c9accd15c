"""Start-up wiring: a new leader reconciles every Guardrail once."""

from __future__ import annotations

from typing import Any

from guardrail_operator.controller.metrics import Metrics
from guardrail_operator.controller.reconciler import Reconciler
from guardrail_operator.controller.wiring import Wiring
from guardrail_operator.reconcile.observed import ProbeResult
from guardrail_operator.settings import Settings


def test_resync_all_reconciles_every_guardrail_in_the_watched_namespaces(kube: Any, make_body: Any) -> None:
    for namespace, name in (("shop", "a"), ("shop", "b"), ("other", "c")):
        body = make_body()
        body["metadata"].update(namespace=namespace, name=name, uid=f"uid-{name}")
        kube.put(body)
    metrics = Metrics()
    reconciler = Reconciler(kube=kube, fetcher_image="f", probe=lambda url: ProbeResult(True), metrics=metrics)
    wiring = Wiring(Settings(watch_namespaces=("shop",)), kube, reconciler, metrics, elector=None)
    wiring.resync_all()
    statuses = {
        key[2]: obj.get("status", {}).get("phase") for key, obj in kube.objects.items() if key[0] == "Guardrail"
    }
    assert statuses == {"a": "Pending", "b": "Pending", "c": None}
    assert wiring.is_leader
