"""The revision ConfigMap: the complete scoring config of one revision, in the sidecar's own schema. Pure.

`guardrail_contract.sidecar_config` is the single source of the schema. The ConfigMap carries two keys:
`revision.yaml` (a `RevisionConfig`: what the revision hash covers, with its backend addresses) and
`sidecar.yaml` (a complete `SidecarConfig` routing all traffic to this revision and following the Guardrail's
status, so the webhook can mount it as is). A revision pinned to an ingested knowledge-base version reads that
version's physical collection, so stable and canary each read their own knowledge.
"""

from __future__ import annotations

import yaml

from guardrail_contract import sidecar_config as sidecar
from guardrail_contract.guardrail import Guardrail, KnowledgeBase
from guardrail_contract.names import (
    REVISION_KEY,
    REVISION_LABEL,
    SIDECAR_KEY,
    revision_configmap_name,
    versioned_collection,
)
from guardrail_operator.builders.common import Manifest, guardrail_name, labels, metadata
from guardrail_operator.builders.qdrant import qdrant_api_key_ref, qdrant_url
from guardrail_operator.builders.triton import triton_grpc_url

QDRANT_API_KEY_ENV = "GUARDRAIL_QDRANT_API_KEY"
# Where the sidecar finds <model>/<version>/tokenizer.json (it tokenises; Triton serves plain ONNX).
TOKENIZER_REPOSITORY = "/opt/guardrail/tokenizers"


def config_name(guardrail: Guardrail, revision: str) -> str:
    return revision_configmap_name(guardrail_name(guardrail), revision)


def served_collection(kb: KnowledgeBase) -> str:
    """The collection a revision reads: the pinned version's physical `<collection>-<version>`, else the alias."""
    return versioned_collection(kb.collection, kb.version)


def revision_config(guardrail: Guardrail, revision: str, model_rev: str) -> sidecar.RevisionConfig:
    """The sidecar's view of one revision: policy, models on this revision's Triton, knowledge base."""
    spec = guardrail.spec
    models = spec.models
    kb = spec.knowledge_base
    knowledge_base = None
    if kb is not None:
        ref = qdrant_api_key_ref(guardrail)
        knowledge_base = sidecar.KnowledgeBase(
            qdrant=sidecar.QdrantConfig(
                url=qdrant_url(guardrail), api_key_env=QDRANT_API_KEY_ENV if ref is not None else None
            ),
            collection=served_collection(kb),
            top_k=kb.top_k,
            score_threshold=kb.score_threshold,
        )
    return sidecar.RevisionConfig(
        revision=revision,
        # Unset optional fields keep the sidecar's defaults (and every existing spec's revision).
        policy=sidecar.Policy.model_validate(spec.policy.model_dump(by_alias=True, exclude_none=True)),
        models=sidecar.Models(
            backend="triton",
            triton=sidecar.TritonBackend(url=triton_grpc_url(guardrail, model_rev), protocol="grpc"),
            nli=sidecar.ModelRef(name=models.nli.name, version=models.nli.version),
            embedding=sidecar.ModelRef(name=models.embedding.name, version=models.embedding.version),
            injection=sidecar.ModelRef(name=models.injection.name, version=models.injection.version),
            tokenizer_repository=TOKENIZER_REPOSITORY,
        ),
        knowledge_base=knowledge_base,
        detectors=spec.detectors or None,
    )


def sidecar_config(guardrail: Guardrail, revision: str, model_rev: str) -> sidecar.SidecarConfig:
    """A complete sidecar config serving `revision` for all traffic and watching this Guardrail."""
    return sidecar.SidecarConfig(
        proxy=sidecar.Proxy.model_validate(guardrail.spec.proxy.model_dump(by_alias=True)),
        routing=sidecar.Routing(
            stable=revision_config(guardrail, revision, model_rev), sticky_header=guardrail.spec.rollout.sticky_header
        ),
        watch=sidecar.GuardrailRef(
            namespace=str(guardrail.metadata["namespace"]), name=str(guardrail.metadata["name"])
        ),
    )


def build_revision_configmap(guardrail: Guardrail, revision: str, model_rev: str) -> Manifest:
    """ConfigMap `<guardrail>-config-<revision>` holding `revision.yaml` and `sidecar.yaml`."""
    rev_config = revision_config(guardrail, revision, model_rev)
    rev_yaml = yaml.safe_dump(rev_config.model_dump(mode="json", by_alias=True, exclude_none=True), sort_keys=False)
    object_labels = labels(guardrail, "guardrail-config", "scoring-config", **{REVISION_LABEL: revision})
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(config_name(guardrail, revision), guardrail, object_labels),
        "data": {
            REVISION_KEY: rev_yaml,
            SIDECAR_KEY: sidecar_config(guardrail, revision, model_rev).to_yaml(),
        },
    }
