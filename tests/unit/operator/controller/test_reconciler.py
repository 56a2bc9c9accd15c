"""The reconcile sequence against an in-memory API server: children, status, idempotence, pruning."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from guardrail_operator.controller.metrics import Metrics
from guardrail_operator.controller.reconciler import Reconciler
from guardrail_operator.errors import Invalid, KubeError
from guardrail_operator.reconcile.observed import ProbeResult

MakeBody = Callable[..., dict[str, Any]]


@pytest.fixture
def reconciler(kube: Any) -> Reconciler:
    return Reconciler(
        kube=kube,
        fetcher_image="fetcher:1",
        probe=lambda url: ProbeResult(ok=False, detail="ConnectError: refused"),
        metrics=Metrics(),
        clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),
    )


def stored(kube: Any, body: dict[str, Any]) -> dict[str, Any]:
    kube.put(body)
    return kube.get("Guardrail", "shop", "support-bot")


def children(kube: Any) -> list[tuple[str, str]]:
    return sorted((k, n) for (k, _, n) in kube.objects if k not in ("Guardrail", "Event"))


def test_first_reconcile_creates_children_and_pending_status(kube: Any, reconciler: Reconciler, body: Any) -> None:
    outcome = reconciler.reconcile(stored(kube, body))
    assert outcome is not None
    assert len(outcome.applied) == 9  # RBAC, revision config, NetworkPolicy, Qdrant x2, Triton x3
    assert ("NetworkPolicy", "support-bot-sidecar-only") in outcome.applied
    assert ("Secret", "support-bot-qdrant-api-key") in children(kube)  # created, not applied: never diffed
    assert len(children(kube)) == 10
    status = kube.get("Guardrail", "shop", "support-bot")["status"]
    assert status["phase"] == "Pending"
    assert status["observedGeneration"] == 1
    assert {c["type"]: c["reason"] for c in status["conditions"]}["Ready"] == "TritonNotReady"


def test_second_reconcile_writes_nothing(kube: Any, reconciler: Reconciler, body: Any) -> None:
    reconciler.reconcile(stored(kube, body))
    kube.mark_ready("StatefulSet", "shop", "support-bot-qdrant")  # a serving Qdrant proves its key Secret exists
    reconciler.reconcile(kube.get("Guardrail", "shop", "support-bot"))
    before = kube.writes()
    outcome = reconciler.reconcile(kube.get("Guardrail", "shop", "support-bot"))
    assert outcome is not None
    assert outcome.applied == []
    assert outcome.status_written is False
    assert kube.writes() == before


def test_ready_children_make_it_healthy(kube: Any, reconciler: Reconciler, body: Any) -> None:
    reconciler.reconcile(stored(kube, body))
    for kind, _, name in list(kube.objects):
        if kind in ("Deployment", "StatefulSet"):
            kube.mark_ready(kind, "shop", name)
    outcome = reconciler.reconcile_by_name("shop", "support-bot")
    assert outcome is not None
    assert outcome.status.phase == "Healthy"
    assert outcome.status.stable_revision
    assert next(e.reason for e in outcome.events) == "GuardrailReady"


def test_revision_change_prunes_the_old_children(kube: Any, reconciler: Reconciler, make_body: MakeBody) -> None:
    reconciler.reconcile(stored(kube, make_body()))
    old = set(children(kube))
    changed = make_body(
        models={"nli": {"name": "nli", "version": "2"}, "repository": {"uri": "s3://models/guardrails"}}
    )
    changed["metadata"]["generation"] = 2
    outcome = reconciler.reconcile(stored(kube, changed))
    assert outcome is not None
    assert {k for k, _ in outcome.pruned} == {"ConfigMap", "Service", "Deployment"}
    assert len(set(children(kube)) - old) == 4  # new config, triton config/service/deployment


def test_invalid_spec_is_reported_not_raised(kube: Any, reconciler: Reconciler, make_body: MakeBody) -> None:
    bad = make_body(policy={"threshold": 0.9, "softLimit": 0.1})
    outcome = reconciler.reconcile(stored(kube, bad))
    assert outcome is not None
    assert outcome.status.phase == "Degraded"
    ready = next(c for c in outcome.status.conditions if c.type == "Ready")
    assert ready.reason == "InvalidSpec"
    assert "softLimit" in ready.message
    assert children(kube) == []


def test_external_qdrant_probe_drives_knowledge_base_condition(
    kube: Any, reconciler: Reconciler, make_body: MakeBody
) -> None:
    body = make_body(knowledgeBase={"qdrant": {"external": {"url": "http://127.0.0.1:9"}}, "collection": "faq"})
    outcome = reconciler.reconcile(stored(kube, body))
    assert outcome is not None
    kb = next(c for c in outcome.status.conditions if c.type == "KnowledgeBaseReady")
    assert (kb.status, kb.reason) == ("False", "ExternalQdrantUnreachable")
    assert not any(k == "StatefulSet" for k, _ in children(kube))


def test_deleting_guardrail_is_left_to_garbage_collection(kube: Any, reconciler: Reconciler, body: Any) -> None:
    body["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert reconciler.reconcile(stored(kube, body)) is None
    assert kube.writes() == 0


def test_child_event_path_repairs_by_name_and_never_prunes(kube: Any, reconciler: Reconciler, body: Any) -> None:
    reconciler.reconcile(stored(kube, body))
    deployment = next(key for key in kube.objects if key[0] == "Deployment")
    stray = dict(kube.objects[deployment], metadata={**kube.objects[deployment]["metadata"], "name": "stray"})
    kube.put(stray)
    del kube.objects[deployment]
    outcome = reconciler.reconcile_by_name("shop", "support-bot", prune=False)
    assert outcome is not None
    assert outcome.applied == [("Deployment", deployment[2])]
    assert outcome.pruned == []
    assert ("Deployment", "shop", "stray") in kube.objects
    full = reconciler.reconcile_by_name("shop", "support-bot")
    assert full is not None
    assert full.pruned == [("Deployment", "stray")]


def test_a_rejected_child_is_reported_and_the_others_still_applied(
    kube: Any, reconciler: Reconciler, body: Any
) -> None:
    real_apply = kube.apply

    def apply(manifest: dict[str, Any]) -> dict[str, Any]:
        if manifest["kind"] == "StatefulSet":
            raise Invalid(422, "Invalid", "spec: Forbidden: updates to statefulset spec are forbidden")
        result: dict[str, Any] = real_apply(manifest)
        return result

    kube.apply = apply
    outcome = reconciler.reconcile(stored(kube, body))
    assert outcome is not None
    assert any(k == "Deployment" for k, _, _ in kube.objects)
    ready = next(c for c in outcome.status.conditions if c.type == "Ready")
    assert (ready.status, ready.reason) == ("False", "ChildRejected")
    assert "StatefulSet support-bot-qdrant" in ready.message
    assert "Forbidden" in ready.message


def test_calls_during_a_reconcile_coalesce_into_one_rerun(kube: Any, reconciler: Reconciler, body: Any) -> None:
    real_apply = kube.apply
    inner: list[object] = []

    def apply(manifest: dict[str, Any]) -> dict[str, Any]:
        if len(inner) < 3:  # three child events arrive while the first reconcile is still applying
            inner.append(reconciler.reconcile_by_name("shop", "support-bot", prune=False))
        result: dict[str, Any] = real_apply(manifest)
        return result

    kube.apply = apply
    reconciler.reconcile(stored(kube, body))
    assert inner == [None, None, None]
    runs = reconciler.metrics.registry.get_sample_value("guardrail_operator_reconciles_total", {"result": "ok"})
    assert runs == 2  # the first reconcile, then exactly one rerun for the three events


def test_the_generated_qdrant_key_is_created_once_and_never_replaced(kube: Any, body: Any) -> None:
    keys = iter(["first-key", "second-key"])
    reconciler = Reconciler(
        kube=kube,
        fetcher_image="fetcher:1",
        probe=lambda url: ProbeResult(ok=True, detail=""),
        metrics=Metrics(),
        clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),
        new_api_key=lambda: next(keys),
    )
    reconciler.reconcile(stored(kube, body))
    secret = kube.get("Secret", "shop", "support-bot-qdrant-api-key")
    assert secret["stringData"] == {"api-key": "first-key"}
    reconciler.reconcile(kube.get("Guardrail", "shop", "support-bot"))  # Qdrant not serving yet: tries again
    assert kube.get("Secret", "shop", "support-bot-qdrant-api-key")["stringData"] == {"api-key": "first-key"}
    status = kube.get("Guardrail", "shop", "support-bot")["status"]
    assert "first-key" not in str(status)
    assert not any("first-key" in str(o) for (k, _, _), o in kube.objects.items() if k != "Secret")


def test_a_refused_key_secret_never_echoes_the_api_servers_message(kube: Any, body: Any) -> None:
    def create(manifest: dict[str, Any]) -> dict[str, Any]:
        raise Invalid(422, "Invalid", f"Secret is invalid: stringData: {manifest.get('stringData')}")

    kube.create = create
    reconciler = Reconciler(
        kube=kube,
        fetcher_image="fetcher:1",
        probe=lambda url: ProbeResult(ok=True, detail=""),
        metrics=Metrics(),
        clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),
        new_api_key=lambda: "the-generated-key",
    )
    with pytest.raises(KubeError) as refused:
        reconciler.reconcile(stored(kube, body))
    assert "support-bot-qdrant-api-key" in str(refused.value)
    assert "the-generated-key" not in str(refused.value)
    assert refused.value.__cause__ is None
