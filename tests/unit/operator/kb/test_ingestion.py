"""The knowledge-base ingestion decision: when a Job runs, what its outcome records, how a version is pinned."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from guardrail_contract.guardrail import Guardrail, HistoryEntry, KnowledgeBaseStatus
from guardrail_operator.builders.config import build_revision_configmap
from guardrail_operator.kb.ingestion import (
    JobView,
    data_hash,
    ingestion_result,
    job_view,
    pin,
    plan_ingestion,
)
from guardrail_operator.kb.job import DIGEST_ANNOTATION
from guardrail_operator.reconcile.revision import guardrail_revision, scoring_fields
from guardrail_operator.rollout.actions import spec_at
from tests.unit.operator.conftest import example_body

SOURCES = [{"configMap": "support-docs"}]
RESULT = {
    "collection": "support-facts",
    "version": "0123456789",
    "documents": 3,
    "chunks": 12,
    "quarantined": 1,
    "ingestedAt": "2026-01-01T00:00:00Z",
    "unreadable": 0,
}
RECORDED = KnowledgeBaseStatus(version="aaaaaaaaaa", sources_digest="old", collection="support-facts-aaaaaaaaaa")


def guardrail(sources: list[dict[str, Any]] | None = None, **status: Any) -> Guardrail:
    body = example_body()
    body["spec"]["knowledgeBase"]["sources"] = SOURCES if sources is None else sources
    body["status"] = status
    return Guardrail.model_validate(body)


def job(name: str, digest: str, *conditions: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "annotations": {DIGEST_ANNOTATION: digest}},
        "status": {"conditions": list(conditions)},
    }


def pod(message: str, exit_code: int = 0) -> dict[str, Any]:
    terminated = {"exitCode": exit_code, "reason": "Completed", "message": message}
    return {"status": {"containerStatuses": [{"name": "ingest", "state": {"terminated": terminated}}]}}


def test_job_state_comes_from_the_job_controllers_conditions() -> None:
    assert job_view(job("a", "d1")) == JobView("a", "d1", "Active")
    complete = job("b", "d2", {"type": "Complete", "status": "True"})
    assert job_view(complete).state == "Succeeded"
    failed = job("c", "d3", {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "m"})
    assert job_view(failed) == JobView("c", "d3", "Failed", "BackoffLimitExceeded", "m")
    not_yet = job("d", "d4", {"type": "Failed", "status": "False"})
    assert job_view(not_yet).state == "Active"


def test_the_result_is_the_ingest_containers_termination_message() -> None:
    assert ingestion_result([pod(json.dumps(RESULT))]) == RESULT
    assert ingestion_result([pod("not json"), pod(json.dumps(RESULT))]) == RESULT
    assert ingestion_result([pod(json.dumps(RESULT), exit_code=1)]) is None
    assert ingestion_result([pod("")]) is None
    assert ingestion_result([]) is None


def test_changed_configmap_data_changes_its_hash() -> None:
    assert data_hash({"data": {"faq.md": "a"}}) != data_hash({"data": {"faq.md": "b"}})
    assert data_hash({"data": {"faq.md": "a"}}) == data_hash({"data": {"faq.md": "a"}, "metadata": {"x": 1}})


def test_new_sources_start_one_job_when_none_runs_and_the_embedder_serves() -> None:
    assert plan_ingestion(RECORDED, "new", "support-facts", [], None).start
    assert plan_ingestion(None, "new", "support-facts", [], None).start
    running_old = [JobView("j-old", "older", "Active")]
    assert not plan_ingestion(RECORDED, "new", "support-facts", running_old, None).start
    assert not plan_ingestion(RECORDED, "new", "support-facts", [], None, embedder_ready=False).start
    running_mine = [JobView("j-new", "new", "Active")]
    assert not plan_ingestion(RECORDED, "new", "support-facts", running_mine, None).start


def test_a_running_or_unreadable_job_is_looked_at_again_soon() -> None:
    assert plan_ingestion(RECORDED, "new", "support-facts", [], None).poll
    assert plan_ingestion(RECORDED, "new", "support-facts", [JobView("j", "new", "Active")], None).poll
    assert plan_ingestion(RECORDED, "new", "support-facts", [JobView("j", "new", "Succeeded")], None).poll
    assert not plan_ingestion(RECORDED, "old", "support-facts", [JobView("j", "old", "Succeeded")], None).poll
    assert not plan_ingestion(RECORDED, "new", "support-facts", [JobView("j", "new", "Failed")], None).poll


def test_ingested_sources_start_nothing_and_finished_old_jobs_are_deleted() -> None:
    jobs = [JobView("j-old", "old", "Succeeded"), JobView("j-older", "older", "Failed")]
    plan = plan_ingestion(RECORDED, "old", "support-facts", jobs, None)
    assert (plan.start, plan.status, plan.failure) == (False, RECORDED, None)
    assert plan.delete == ("j-older",)


def test_a_missing_configmap_source_is_reported_instead_of_running_a_job() -> None:
    plan = plan_ingestion(RECORDED, "new", "support-facts", [], None, missing=["support-docs"])
    assert not plan.start
    assert plan.failure is not None
    assert plan.failure[0] == "KnowledgeSourceMissing"
    assert "support-docs" in plan.failure[1]


def test_success_records_the_result_with_the_sources_digest() -> None:
    jobs = [JobView("j-new", "new", "Succeeded"), JobView("j-old", "old", "Succeeded")]
    plan = plan_ingestion(RECORDED, "new", "support-facts", jobs, RESULT)
    assert plan.failure is None
    assert plan.status == KnowledgeBaseStatus(
        collection="support-facts-0123456789",
        version="0123456789",
        documents=3,
        chunks=12,
        quarantined=1,
        last_ingestion_time="2026-01-01T00:00:00Z",
        sources_digest="new",
        job="j-new",
    )
    assert plan.delete == ("j-old",)


def test_failure_keeps_the_recorded_version_and_reports_the_jobs_reason() -> None:
    jobs = [JobView("j-new", "new", "Failed", "DeadlineExceeded", "Job was active longer than specified deadline")]
    plan = plan_ingestion(RECORDED, "new", "support-facts", jobs, None)
    assert plan.status == RECORDED
    assert not plan.start, "a failed Job is not retried until the sources change or it is deleted"
    assert plan.failure is not None
    reason, message = plan.failure
    assert reason == "DeadlineExceeded"
    assert "j-new" in message
    assert "longer than specified deadline" in message
    assert "aaaaaaaaaa" in message


def test_success_without_a_usable_result_is_a_failure() -> None:
    jobs = [JobView("j-new", "new", "Succeeded")]
    for result in (
        None,
        {**RESULT, "version": "../etc"},
        {**RESULT, "chunks": "many"},
        {**RESULT, "documents": None},
        {**RESULT, "quarantined": -1},
    ):
        plan = plan_ingestion(RECORDED, "new", "support-facts", jobs, result)
        assert plan.status == RECORDED
        assert plan.failure is not None
        assert plan.failure[0] == "IngestionResultMissing"


def test_pinning_a_version_makes_a_new_revision_reading_its_physical_collection() -> None:
    g = guardrail()
    before = guardrail_revision(g.spec)
    pinned = pin(g, KnowledgeBaseStatus(version="0123456789", sources_digest="d"))
    assert pinned.status.knowledge_base is not None
    assert guardrail_revision(pinned.spec) != before
    assert guardrail_revision(pin(g, KnowledgeBaseStatus(version="fedcba9876")).spec) != guardrail_revision(pinned.spec)
    config = build_revision_configmap(pinned, "r1", "m1")["data"]["revision.yaml"]
    assert "collection: support-facts-0123456789" in config


def test_without_sources_or_a_version_the_alias_is_served_and_the_hash_is_unchanged() -> None:
    out_of_band = guardrail(sources=[])
    assert pin(out_of_band, RECORDED).spec == out_of_band.spec
    not_yet = guardrail()
    assert guardrail_revision(pin(not_yet, None).spec) == guardrail_revision(not_yet.spec)
    assert guardrail_revision(not_yet.spec) == guardrail_revision(out_of_band.spec)
    config = build_revision_configmap(not_yet, "r1", "m1")["data"]["revision.yaml"]
    assert "collection: support-facts\n" in config


def test_an_earlier_revision_rendered_from_history_reads_its_own_version() -> None:
    old = pin(guardrail(), KnowledgeBaseStatus(version="0123456789"))
    new = pin(guardrail(), KnowledgeBaseStatus(version="fedcba9876"))
    entry = HistoryEntry(revision=guardrail_revision(old.spec), promoted_at="t", scoring=scoring_fields(old.spec))
    restored = spec_at(new.spec, entry)
    assert guardrail_revision(restored) == entry.revision
    assert restored.knowledge_base is not None
    assert restored.knowledge_base.version == "0123456789"


def test_a_collection_whose_versions_would_not_fit_a_name_is_rejected_with_sources() -> None:
    long_name = "c" * 53
    body = example_body()
    body["spec"]["knowledgeBase"]["collection"] = long_name
    assert Guardrail.model_validate(body).spec.knowledge_base is not None  # out of band: the alias only
    body["spec"]["knowledgeBase"]["sources"] = SOURCES
    with pytest.raises(ValidationError, match="at most 52 characters"):
        Guardrail.model_validate(body)
