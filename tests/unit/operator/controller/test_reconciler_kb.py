"""Reconciling a Guardrail with knowledge-base sources against an in-memory API server: the ingestion Job, its
result pinned into a new revision (a canary), and a failed Job leaving the stable revision serving."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from guardrail_operator.controller.kb_sync import JOB_NAME_LABEL
from guardrail_operator.controller.metrics import Metrics
from guardrail_operator.controller.reconciler import INGESTION_POLL, Reconciler
from guardrail_operator.reconcile.observed import ProbeResult
from tests.unit.operator.conftest import FakeKube, example_body

NS, NAME = "shop", "support-bot"
VERSION = "0123456789"


@pytest.fixture
def reconciler(kube: FakeKube) -> Reconciler:
    return Reconciler(
        kube=kube,  # type: ignore[arg-type]  # the fake has the methods the reconciler uses
        fetcher_image="fetcher:1",
        probe=lambda url: ProbeResult(ok=True),
        metrics=Metrics(),
        clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),
        kb_image="sidecar:kb",
    )


def docs(kube: FakeKube, text: str) -> None:
    kube.put({"kind": "ConfigMap", "metadata": {"name": "support-docs", "namespace": NS}, "data": {"faq.md": text}})


def reconcile(kube: FakeKube, reconciler: Reconciler) -> dict[str, Any]:
    reconciler.reconcile_by_name(NS, NAME)
    status: dict[str, Any] = kube.get("Guardrail", NS, NAME)["status"]
    return status


def ready_workloads(kube: FakeKube) -> None:
    for kind, ns, name in list(kube.objects):
        if kind in ("Deployment", "StatefulSet"):
            kube.mark_ready(kind, ns, name)


def jobs(kube: FakeKube) -> dict[str, dict[str, Any]]:
    return {name: obj for (kind, _, name), obj in kube.objects.items() if kind == "Job"}


def finish(kube: FakeKube, job: str, condition: dict[str, str], message: str = "") -> None:
    """What the Job controller and the kubelet report when the ingestion ends."""
    kube.objects[("Job", NS, job)]["status"] = {"conditions": [{"status": "True", **condition}]}
    terminated = {"exitCode": 0 if condition["type"] == "Complete" else 1, "message": message}
    kube.put(
        {
            "kind": "Pod",
            "metadata": {"name": f"{job}-x", "namespace": NS, "labels": {JOB_NAME_LABEL: job}},
            "status": {"containerStatuses": [{"name": "ingest", "state": {"terminated": terminated}}]},
        }
    )


def succeed_the_job(kube: FakeKube) -> str:
    """The one ingestion Job completes with VERSION of support-facts (1 document, 2 chunks); its name."""
    (job,) = jobs(kube)
    result = {"collection": "support-facts", "version": VERSION, "documents": 1, "chunks": 2, "quarantined": 0}
    finish(kube, job, {"type": "Complete"}, json.dumps({**result, "ingestedAt": "2026-01-01T00:00:00Z"}))
    return job


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == kind)


def collection_of(kube: FakeKube, revision: str) -> str:
    data = kube.get("ConfigMap", NS, f"{NAME}-config-{revision}")["data"]["revision.yaml"]
    return str(yaml.safe_load(data)["knowledgeBase"]["collection"])


@pytest.fixture
def stable(kube: FakeKube, reconciler: Reconciler) -> dict[str, Any]:
    """A Guardrail ingesting a ConfigMap, stable on its first revision (no version yet: the alias)."""
    docs(kube, "# FAQ\nRefunds take 5 days.")
    body = example_body()
    body["spec"]["knowledgeBase"]["sources"] = [{"configMap": "support-docs"}]
    kube.put(body)
    reconcile(kube, reconciler)
    ready_workloads(kube)
    status = reconcile(kube, reconciler)
    assert status["stableRevision"]
    return status


def test_sources_start_one_ingestion_job_with_the_cli_arguments(
    kube: FakeKube, reconciler: Reconciler, stable: dict[str, Any]
) -> None:
    (name, job), *others = jobs(kube).items()
    assert others == []
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "sidecar:kb"
    args = container["args"]
    assert args[:4] == ["guardrail", "kb", "ingest", "/kb/sources/0"]
    assert args[args.index("--collection") + 1] == "support-facts"
    assert job["spec"]["template"]["spec"]["volumes"][0]["configMap"] == {"name": "support-docs"}
    before = kube.writes()
    outcome = reconciler.reconcile_by_name(NS, NAME)
    assert kube.writes() == before, "a running Job is neither re-applied nor joined by a second one"
    assert outcome is not None
    assert outcome.requeue_after == INGESTION_POLL, "Jobs are not watched: a running one is polled"
    assert list(jobs(kube)) == [name]


def test_a_succeeded_job_pins_its_version_into_a_canary_revision(
    kube: FakeKube, reconciler: Reconciler, stable: dict[str, Any]
) -> None:
    job = succeed_the_job(kube)
    status = reconcile(kube, reconciler)
    kb = status["knowledgeBase"]
    assert (kb["version"], kb["documents"], kb["chunks"], kb["job"]) == (VERSION, 1, 2, job)
    assert kb["lastIngestionTime"] == "2026-01-01T00:00:00Z"
    canary = status["canary"]["revision"]
    assert canary != stable["stableRevision"]
    assert status["stableRevision"] == stable["stableRevision"]
    assert collection_of(kube, canary) == f"support-facts-{VERSION}"
    assert collection_of(kube, status["stableRevision"]) == "support-facts"
    assert condition(status, "KnowledgeBaseReady")["status"] == "True"
    assert list(jobs(kube)) == [job], "the sources are ingested: no new Job"

    docs(kube, "# FAQ\nRefunds take 3 days.")  # new sources mid-canary: the canary's version is kept
    reconcile(kube, reconciler)
    (args,) = [j["spec"]["template"]["spec"]["containers"][0]["args"] for n, j in jobs(kube).items() if n != job]
    assert args[args.index("--keep") + 1] == VERSION


def test_a_new_ingestion_image_re_ingests_unchanged_sources_once(
    kube: FakeKube, reconciler: Reconciler, stable: dict[str, Any]
) -> None:
    job = succeed_the_job(kube)
    reconcile(kube, reconciler)
    reconcile(kube, reconciler)
    assert list(jobs(kube)) == [job], "same sources, same image: nothing to ingest"
    upgraded = replace(reconciler, kb_image="sidecar:kb-next")  # an operator upgrade: chunks may be screened anew
    reconcile(kube, upgraded)
    (new,) = [n for n in jobs(kube) if n != job]
    assert jobs(kube)[new]["spec"]["template"]["spec"]["containers"][0]["image"] == "sidecar:kb-next"


def test_a_failed_job_leaves_the_stable_revision_serving(
    kube: FakeKube, reconciler: Reconciler, stable: dict[str, Any]
) -> None:
    (job,) = jobs(kube)
    finish(kube, job, {"type": "Failed", "reason": "BackoffLimitExceeded", "message": "Job has reached the limit"})
    status = reconcile(kube, reconciler)
    kb_ready = condition(status, "KnowledgeBaseReady")
    assert (kb_ready["status"], kb_ready["reason"]) == ("False", "BackoffLimitExceeded")
    assert "Job has reached the limit" in kb_ready["message"]
    assert status["stableRevision"] == stable["stableRevision"]
    assert "canary" not in status
    assert "knowledgeBase" not in status
    assert list(jobs(kube)) == [job], "not retried while the sources are unchanged"

    docs(kube, "# FAQ\nRefunds take 3 days.")  # fixed sources: a new Job, the failed one goes
    reconcile(kube, reconciler)
    assert len(jobs(kube)) == 1
    assert job not in jobs(kube)


def test_a_missing_configmap_source_is_reported_without_a_job(kube: FakeKube, reconciler: Reconciler) -> None:
    body = example_body()
    body["spec"]["knowledgeBase"]["sources"] = [{"configMap": "nowhere"}]
    kube.put(body)
    reconcile(kube, reconciler)
    ready_workloads(kube)
    status = reconcile(kube, reconciler)
    assert condition(status, "KnowledgeBaseReady")["reason"] == "KnowledgeSourceMissing"
    assert jobs(kube) == {}


def test_removing_the_sources_unpins_the_version(
    kube: FakeKube, reconciler: Reconciler, stable: dict[str, Any]
) -> None:
    (job,) = jobs(kube)
    finish(kube, job, {"type": "Complete"}, json.dumps({"version": VERSION, "documents": 1, "chunks": 2}))
    assert reconcile(kube, reconciler)["canary"]["revision"]
    body = kube.get("Guardrail", NS, NAME)
    body["spec"]["knowledgeBase"]["sources"] = []
    kube.put(body)
    status = reconcile(kube, reconciler)
    assert "knowledgeBase" not in status
    assert "canary" not in status, "back to the alias: the stable revision, so the canary is cancelled"
    assert collection_of(kube, status["stableRevision"]) == "support-facts"
