"""The I/O edge of knowledge-base ingestion: read what `kb_ingestion` decides from, carry out its plan.

Reads the ConfigMap sources (their data goes into the sources digest), this Guardrail's ingestion Jobs and,
once the Job of the current sources succeeded, its Pods' termination message. Writes only the Job of the
current sources (applied once: a Job's template is immutable) and deletions of finished Jobs of older sources.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from guardrail_contract.guardrail import Guardrail
from guardrail_operator.builders.common import children_selector
from guardrail_operator.clients.k8s import KubeClient
from guardrail_operator.errors import Invalid, NotFound
from guardrail_operator.kb import ingestion as kb_ingestion
from guardrail_operator.kb.ingestion import IngestionPlan
from guardrail_operator.kb.job import build_kb_ingest_job, sources_digest
from guardrail_operator.reconcile.revision import model_revision
from guardrail_operator.rollout.actions import Decision
from guardrail_operator.rollout.children import observe_rollout, served

JOB_NAME_LABEL = "batch.kubernetes.io/job-name"  # set by the Job controller on the Job's Pods
JOB_SELECTOR = "app.kubernetes.io/component=knowledge-base"


@dataclass(frozen=True)
class Ingestion:
    """The digest of the knowledge-base sources as observed now, and what `kb_ingestion` decided."""

    digest: str
    plan: IngestionPlan


def observe_ingestion(
    kube: KubeClient, guardrail: Guardrail, children: Mapping[tuple[str, str], Mapping[str, Any]], image: str
) -> Ingestion | None:
    """Observe the sources and Jobs and let `kb_ingestion` decide; None when the Guardrail ingests no sources.
    `image`: the ingestion Jobs' image, part of the digest: a new one may screen chunks differently
    (`guardrail_kb.poisoning.SCREENING`, another injection model), so an upgrade re-ingests once (vectors copied)."""
    kb = guardrail.spec.knowledge_base
    if kb is None or not kb.sources:
        return None
    namespace = str(guardrail.metadata["namespace"])
    embedding = guardrail.spec.models.embedding
    seen = {"embedding": f"{embedding.name}:{embedding.version}", "image": image}  # other vectors, other screening
    missing = []
    for source in kb.sources:
        if source.config_map is None:
            continue  # PVC and URI sources: the source spec itself is the digest's input
        try:
            configmap = kube.get("ConfigMap", namespace, source.config_map)
        except NotFound:
            missing.append(source.config_map)
            configmap = {}
        seen[f"configmap/{source.config_map}"] = kb_ingestion.data_hash(configmap)
    digest = sources_digest(guardrail, seen)
    listed = kube.list("Job", namespace, f"{children_selector(guardrail)},{JOB_SELECTOR}")
    jobs = [kb_ingestion.job_view(job) for job in listed]
    current = guardrail.status.knowledge_base
    mine = next((j for j in jobs if j.digest == digest), None)
    result = None
    if mine is not None and mine.state == "Succeeded" and (current is None or current.sources_digest != digest):
        result = kb_ingestion.ingestion_result(kube.list("Pod", namespace, f"{JOB_NAME_LABEL}={mine.name}"))
    embedder_ready = observe_rollout(children).ready(model_revision(guardrail.spec))
    plan = kb_ingestion.plan_ingestion(current, digest, kb.collection, jobs, result, missing, embedder_ready)
    return Ingestion(digest, plan)


def pinned_versions(guardrail: Guardrail, decision: Decision) -> tuple[str, ...]:
    """Knowledge-base versions the ingestion must not collect: those of the revisions served now and of the
    earlier stable revisions in history (so a rollback finds its knowledge)."""
    versions = {
        e.spec.knowledge_base.version
        for e in served(decision.actions)
        if e.spec.knowledge_base is not None and e.spec.knowledge_base.version is not None
    }
    for entry in decision.status.history:
        version = (entry.scoring.get("knowledgeBase") or {}).get("version")
        if isinstance(version, str):
            versions.add(version)
    return tuple(sorted(versions))


def carry_out(
    kube: KubeClient, guardrail: Guardrail, ingestion: Ingestion, decision: Decision, image: str, fetcher_image: str
) -> tuple[str, str] | None:
    """Delete finished old Jobs, start the Job of the current sources if planned; the failure to report."""
    namespace = str(guardrail.metadata["namespace"])
    for name in ingestion.plan.delete:
        kube.delete("Job", namespace, name)
    if not ingestion.plan.start:
        return ingestion.plan.failure
    job = build_kb_ingest_job(
        guardrail,
        image=image,
        model_rev=model_revision(guardrail.spec),
        digest=ingestion.digest,
        fetcher_image=fetcher_image,
        pinned=pinned_versions(guardrail, decision),
    )
    try:
        kube.apply(job)
    except Invalid as exc:
        return "IngestionJobRejected", f"the API server rejected Job {job['metadata']['name']}: {exc.message}"
    return None
