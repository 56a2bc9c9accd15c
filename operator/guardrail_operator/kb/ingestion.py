"""When to run a knowledge-base ingestion Job, and what its outcome means for status. Pure.

The reconciler observes (the sources' content, this Guardrail's ingestion Jobs, the result of the Job of the
current sources) and `plan_ingestion` decides:

- sources unchanged since the last successful ingestion (`status.knowledgeBase.sourcesDigest`): nothing;
- no Job for the current sources: start one, unless one is still running (one Job at a time per Guardrail),
  a ConfigMap source is missing, or the Triton serving the spec's embedding model is not ready yet;
- that Job running: wait; failed: `KnowledgeBaseReady=False` with the Job's reason and message, the live
  version untouched (a new Job runs when the sources change again, or when the failed Job is deleted);
- that Job succeeded: its result becomes `status.knowledgeBase`, and `pin` puts the new version into the spec
  the revision is hashed from, so the new knowledge goes through the canary.

Finished Jobs of other sources are deleted, so a return to earlier sources ingests again (cheaply: the CLI
copies unchanged chunks) instead of trusting a version that retention may have collected since.
The result is the JSON the container writes to its termination message (see `kb_job`), read from the
Job's Pod as the kubelet reports it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from guardrail_contract.guardrail import Guardrail, KnowledgeBaseStatus
from guardrail_contract.names import versioned_collection
from guardrail_operator.kb.job import DIGEST_ANNOTATION

Manifest = dict[str, Any]
JobState = Literal["Active", "Succeeded", "Failed"]
INGEST_CONTAINER = "ingest"
_VERSION = re.compile(r"^[a-z0-9][a-z0-9_-]{0,40}$")


@dataclass(frozen=True)
class JobView:
    """An ingestion Job reduced to what the decision needs."""

    name: str
    digest: str
    state: JobState
    reason: str = ""
    message: str = ""


@dataclass(frozen=True)
class IngestionPlan:
    """What to do now: the `status.knowledgeBase` to record, whether to start the Job of the current sources,
    finished Jobs to delete, the (reason, message) of a failure to report in `KnowledgeBaseReady`, and whether
    to look again soon (a Job is running, or its result is not readable yet)."""

    status: KnowledgeBaseStatus | None
    start: bool = False
    delete: tuple[str, ...] = ()
    failure: tuple[str, str] | None = None
    poll: bool = False


def data_hash(configmap: Mapping[str, Any]) -> str:
    """A hash of a ConfigMap's documents (`data` and `binaryData`), so an edited document changes the digest."""
    content = {"data": configmap.get("data") or {}, "binaryData": configmap.get("binaryData") or {}}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def job_view(job: Mapping[str, Any]) -> JobView:
    """A Job's name, the digest it ingests (its annotation) and its state from the Job controller's conditions."""
    meta = job.get("metadata", {})
    digest = str((meta.get("annotations") or {}).get(DIGEST_ANNOTATION, ""))
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("status") != "True":
            continue
        if cond.get("type") == "Complete":
            return JobView(str(meta["name"]), digest, "Succeeded")
        if cond.get("type") == "Failed":
            reason = str(cond.get("reason") or "IngestionFailed")
            return JobView(str(meta["name"]), digest, "Failed", reason, str(cond.get("message", "")))
    return JobView(str(meta["name"]), digest, "Active")


def ingestion_result(pods: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The JSON summary a succeeded ingest container left in its termination message, if any Pod has one."""
    for pod in pods:
        for container in (pod.get("status") or {}).get("containerStatuses") or []:
            terminated = (container.get("state") or {}).get("terminated") or {}
            if container.get("name") != INGEST_CONTAINER or terminated.get("exitCode") != 0:
                continue
            try:
                result = json.loads(terminated.get("message") or "")
            except ValueError:
                continue
            if isinstance(result, dict):
                return result
    return None


def _recorded(job: JobView, digest: str, result: Mapping[str, Any], collection: str) -> KnowledgeBaseStatus | str:
    """`status.knowledgeBase` from a Job's result, or why the result cannot be used."""
    version = result.get("version")
    if not isinstance(version, str) or not _VERSION.match(version):
        return f"its result names no usable version ({version!r})"
    try:
        return KnowledgeBaseStatus(
            collection=versioned_collection(collection, version),
            version=version,
            documents=int(result.get("documents", 0)),
            chunks=int(result.get("chunks", 0)),
            quarantined=int(result.get("quarantined", 0)),
            last_ingestion_time=str(result.get("ingestedAt", "")),
            sources_digest=digest,
            job=job.name,
        )
    except (TypeError, ValueError) as exc:  # a pydantic ValidationError is a ValueError
        return f"its result does not parse ({exc})"


def plan_ingestion(
    current: KnowledgeBaseStatus | None,
    digest: str,
    collection: str,
    jobs: Sequence[JobView],
    result: Mapping[str, Any] | None,
    missing: Sequence[str] = (),
    embedder_ready: bool = True,
) -> IngestionPlan:
    """The decision for sources with `digest` (see the module docstring); `result` is the summary of the Job
    of `digest` when it succeeded, `missing` the ConfigMap sources that do not exist."""
    mine = next((j for j in jobs if j.digest == digest), None)
    stale = tuple(sorted(j.name for j in jobs if j.digest != digest and j.state != "Active"))
    live = f"the live version ({current.version if current and current.version else 'none yet'}) keeps serving"
    if current is not None and current.sources_digest == digest:
        return IngestionPlan(current, delete=stale)
    if mine is None:
        if missing:
            names = ", ".join(missing)
            message = f"ConfigMap source(s) {names} not found in the namespace; {live}."
            return IngestionPlan(current, delete=stale, failure=("KnowledgeSourceMissing", message))
        busy = any(j.state == "Active" for j in jobs)
        start = not busy and embedder_ready
        return IngestionPlan(current, start=start, delete=stale, poll=busy or start)
    if mine.state == "Active":
        return IngestionPlan(current, delete=stale, poll=True)
    if mine.state == "Failed":
        detail = f": {mine.message}" if mine.message else ""
        message = (
            f"Ingestion Job {mine.name} failed ({mine.reason}){detail}; {live}. Fix the sources, or delete the "
            "Job to retry."
        )
        return IngestionPlan(current, delete=stale, failure=(mine.reason, message))
    recorded = None if result is None else _recorded(mine, digest, result, collection)
    if not isinstance(recorded, KnowledgeBaseStatus):
        why = recorded or "its Pod reported no result (termination message)"
        message = f"Ingestion Job {mine.name} succeeded but {why}; {live}."
        return IngestionPlan(current, delete=stale, failure=("IngestionResultMissing", message), poll=True)
    return IngestionPlan(recorded, delete=stale)


def pin(guardrail: Guardrail, kb_status: KnowledgeBaseStatus | None) -> Guardrail:
    """The Guardrail with `status.knowledgeBase` set and, when it ingests sources and a version exists, that
    version pinned in its spec (so it is part of the revision hash and the revision's collection)."""
    status = guardrail.status.model_copy(update={"knowledge_base": kb_status})
    kb = guardrail.spec.knowledge_base
    if kb is None or not kb.sources or kb_status is None or not kb_status.version:
        return guardrail.model_copy(update={"status": status})
    spec = guardrail.spec.model_copy(update={"knowledge_base": kb.model_copy(update={"version": kb_status.version})})
    return guardrail.model_copy(update={"spec": spec, "status": status})
