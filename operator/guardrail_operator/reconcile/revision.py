"""Revision hashing: a short hash of exactly the spec fields that change scoring.

A guardrail revision covers `models`, `policy` and the knowledge base's `collection`, `topK`,
`scoreThreshold` and, when the operator ingests `sources`, the ingested knowledge-base `version` (so new
knowledge goes through the canary like a new model; without sources the hash is as before). A model
revision covers `models` alone and names the Triton Deployment serving them, so a policy-only change reuses
the running Triton. Rollout settings, Triton replicas/resources and the Qdrant server's location are not
part of either: changing them is not a new revision. Defaults are included in the canonical form because
they change scoring just as much as explicit values. `detectors` count too, when there are any (an empty
list is left out, so a Guardrail without detectors keeps its revision).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from guardrail_contract.guardrail import GuardrailSpec

HASH_LENGTH = 10


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8 kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def short_hash(value: Any) -> str:
    """The first HASH_LENGTH hex digits of the sha256 of the canonical JSON of `value`."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:HASH_LENGTH]


def scoring_fields(spec: GuardrailSpec) -> dict[str, Any]:
    """Exactly the fields a guardrail revision covers, in wire (camelCase) form."""
    kb = spec.knowledge_base
    knowledge_base: dict[str, Any] | None = None
    if kb is not None:
        knowledge_base = {"collection": kb.collection, "topK": kb.top_k, "scoreThreshold": kb.score_threshold}
        if kb.version is not None:
            knowledge_base["version"] = kb.version
    fields: dict[str, Any] = {
        "models": spec.models.model_dump(mode="json", by_alias=True),
        # Unset optional policy fields are left out, so adding one keeps every existing spec's revision.
        "policy": spec.policy.model_dump(mode="json", by_alias=True, exclude_none=True),
        "knowledgeBase": knowledge_base,
    }
    if spec.detectors:  # left out when there are none, so a Guardrail without detectors keeps its revision
        fields["detectors"] = [d.model_dump(mode="json", by_alias=True, exclude_none=True) for d in spec.detectors]
    return fields


def guardrail_revision(spec: GuardrailSpec) -> str:
    """The revision of a spec: equal for specs that score identically, different otherwise."""
    return short_hash(scoring_fields(spec))


def model_revision(spec: GuardrailSpec) -> str:
    """The revision of the models alone: one Triton Deployment per model revision."""
    return short_hash(spec.models.model_dump(mode="json", by_alias=True))
