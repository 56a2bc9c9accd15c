"""The knowledge-base ingestion Job: `spec.knowledgeBase.sources` → a batch/v1 Job running `guardrail kb ingest`.
Pure: no clock, environment or API calls; the reconciler supplies everything observed.

API for the reconciler (wired by `kb_sync`, decided by `kb_ingestion`):

    digest = sources_digest(guardrail, observed)   # observed: {"configmap/<name>": <hash of its data>, ...}
    job = build_kb_ingest_job(guardrail, image=..., model_rev=..., digest=digest, fetcher_image=...,
                              pinned=(<KB versions pinned by the stable/canary revisions>))
    apply(job)  # server-side apply; the name carries the digest, so changed sources make a new Job

- Run it when `sources` is not empty and no Job named `kb_job_name(guardrail, digest)` exists yet (or the
  digest differs from `status.knowledgeBase.sourcesDigest`). The Job is owned by the Guardrail.
- The container writes its result as JSON to its termination message (`/dev/termination-log`):
  `{"collection", "version", "documents", "chunks", "quarantined", "ingestedAt", "unreadable"}`. On success
  read it from the Pod's `status.containerStatuses[0].state.terminated.message` (pods selected by
  `job-name=<job>`), put it in `status.knowledgeBase`, and make the KB version part of the next revision
  hash (so it goes through the canary like a model change). On failure (`JobFailed` condition) set
  `KnowledgeBaseReady=False` with the Job's reason/message: the CLI switches the alias only as its very last
  step and `--strict` refuses partial sources, so a failed Job leaves the live version untouched.
- ConfigMap sources: every key is a document (its key is the file name, so `faq.md`, `prices.jsonl`).
  PVC sources: the folder `path` inside the claim, mounted read-only. URI sources (s3://, gs://, https://):
  copied by an init container (rclone, as for the model repository) into an emptyDir first; credentials come
  from the node's or the cloud's workload identity (env_auth), never from the spec. The pod gets no
  Kubernetes API token (`automountServiceAccountToken: false`).
- Embeddings come from the revision's Triton (gRPC) with the tokenizers baked into the image; the pattern
  check for injected instructions always runs, the injection model only when the image carries it.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Mapping
from urllib.parse import urlparse

from guardrail_contract.guardrail import Guardrail, KnowledgeBase, KnowledgeSource
from guardrail_operator.builders.common import Manifest, child_name, labels, metadata
from guardrail_operator.builders.config import QDRANT_API_KEY_ENV, TOKENIZER_REPOSITORY
from guardrail_operator.builders.qdrant import qdrant_api_key_ref, qdrant_url
from guardrail_operator.builders.security import container_security_context, pod_security_context
from guardrail_operator.builders.triton import triton_grpc_url

SOURCES_DIR = "/kb/sources"
TERMINATION_LOG = "/dev/termination-log"
DIGEST_ANNOTATION = "guardrails.dev/kb-sources-digest"
DIGEST_LENGTH = 10


def _knowledge_base(guardrail: Guardrail) -> KnowledgeBase:
    kb = guardrail.spec.knowledge_base
    if kb is None or not kb.sources:
        raise ValueError("spec.knowledgeBase.sources is empty: there is nothing to ingest")
    return kb


def sources_digest(guardrail: Guardrail, observed: Mapping[str, str]) -> str:
    """A short hash of the sources and what the reconciler observed of them (e.g. ConfigMap data hashes)."""
    kb = _knowledge_base(guardrail)
    value = {
        "collection": kb.collection,
        "sources": [s.model_dump(mode="json", by_alias=True, exclude_none=True) for s in kb.sources],
        "observed": dict(sorted(observed.items())),
    }
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:DIGEST_LENGTH]


def kb_job_name(guardrail: Guardrail, digest: str) -> str:
    return child_name(guardrail, "kb", digest)


def _fetch_command(uri: str, dest: str) -> str:
    parsed = urlparse(uri)
    if parsed.scheme in ("http", "https"):
        return f"rclone copy --http-url {shlex.quote(uri.rstrip('/'))} :http: {shlex.quote(dest)}"
    backend = {"s3": ":s3,env_auth=true", "gs": ":gcs,env_auth=true"}[parsed.scheme]
    return f"rclone copy {shlex.quote(f'{backend}:{parsed.netloc}{parsed.path}'.rstrip('/'))} {shlex.quote(dest)}"


def _source_parts(
    index: int, source: KnowledgeSource, fetcher_image: str
) -> tuple[Manifest, Manifest, Manifest | None]:
    """(volume, read-only mount in the ingest container, init container or None) of one source."""
    name = f"source-{index}"
    mount_path = f"{SOURCES_DIR}/{index}"
    mount: Manifest = {"name": name, "mountPath": mount_path, "readOnly": True}
    if source.config_map is not None:
        return {"name": name, "configMap": {"name": source.config_map}}, mount, None
    if source.pvc is not None:
        if source.path.strip("/"):
            mount["subPath"] = source.path.strip("/")
        return {"name": name, "persistentVolumeClaim": {"claimName": source.pvc, "readOnly": True}}, mount, None
    assert source.uri is not None  # the model validator guarantees exactly one kind
    init: Manifest = {
        "name": f"fetch-{index}",
        "image": fetcher_image,
        "command": ["sh", "-c", _fetch_command(source.uri, mount_path)],
        "volumeMounts": [{"name": name, "mountPath": mount_path}],
        "securityContext": container_security_context(),
    }
    return {"name": name, "emptyDir": {}}, mount, init


def ingest_args(guardrail: Guardrail, model_rev: str, pinned: tuple[str, ...] = ()) -> list[str]:
    """The `guardrail kb ingest` command line of the Job."""
    kb = _knowledge_base(guardrail)
    url = qdrant_url(guardrail)
    assert url is not None  # a knowledge base always has a Qdrant
    args = ["guardrail", "kb", "ingest", *[f"{SOURCES_DIR}/{i}" for i in range(len(kb.sources))]]
    args += ["--collection", kb.collection, "--qdrant-url", url]
    if qdrant_api_key_ref(guardrail) is not None:
        args += ["--api-key-env", QDRANT_API_KEY_ENV]
    embedding = guardrail.spec.models.embedding
    args += ["--embedding-url", triton_grpc_url(guardrail, model_rev)]
    args += ["--embedding-model", f"{embedding.name}:{embedding.version}", "--model-repository", TOKENIZER_REPOSITORY]
    args += ["--retain", str(kb.retain_versions)]
    for version in sorted(set(pinned)):
        args += ["--keep", version]
    return [*args, "--strict", "--summary-file", TERMINATION_LOG]


def build_kb_ingest_job(
    guardrail: Guardrail,
    *,
    image: str,
    model_rev: str,
    digest: str,
    fetcher_image: str,
    pinned: tuple[str, ...] = (),
) -> Manifest:
    """The ingestion Job for the Guardrail's current sources (named after their digest)."""
    kb = _knowledge_base(guardrail)
    parts = [_source_parts(i, s, fetcher_image) for i, s in enumerate(kb.sources)]
    container: Manifest = {
        "name": "ingest",
        "image": image,
        "args": ingest_args(guardrail, model_rev, pinned),
        "volumeMounts": [mount for _, mount, _ in parts],
        "terminationMessagePolicy": "File",
        "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
        "securityContext": container_security_context(),
    }
    ref = qdrant_api_key_ref(guardrail)
    if ref is not None:
        container["env"] = [
            {"name": QDRANT_API_KEY_ENV, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}
        ]
    pod_spec: Manifest = {
        "restartPolicy": "Never",
        # The ingestion reads mounted files and talks to Qdrant and Triton, never to the API server: no token
        # in the pod, so a hostile document that got code execution could not use one.
        "automountServiceAccountToken": False,
        "securityContext": pod_security_context(65532),
        "containers": [container],
        "volumes": [volume for volume, _, _ in parts],
    }
    inits = [init for _, _, init in parts if init is not None]
    if inits:
        pod_spec["initContainers"] = inits
    object_labels = labels(guardrail, "guardrail-kb-ingest", "knowledge-base")
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(
            kb_job_name(guardrail, digest), guardrail, object_labels, annotations={DIGEST_ANNOTATION: digest}
        ),
        "spec": {
            "backoffLimit": 2,
            "activeDeadlineSeconds": 3600,
            "ttlSecondsAfterFinished": 86400,
            "template": {"metadata": {"labels": object_labels}, "spec": pod_spec},
        },
    }
