"""A sidecar outside the cluster serves the operator's revisions through local backends."""

from __future__ import annotations

from guardrail_contract.sidecar_config import Models, QdrantConfig, RevisionConfig, SidecarConfig

IN_CLUSTER = RevisionConfig.model_validate(
    {
        "revision": "abc123",
        "models": {
            "backend": "triton",
            "triton": {"url": "support-bot-triton-1.shop.svc:8001"},
            "tokenizerRepository": "/opt/guardrail/tokenizers",
            "nli": {"name": "nli", "version": "2"},
        },
        "knowledgeBase": {"qdrant": {"url": "http://support-bot-qdrant:6333"}, "collection": "faq"},
    }
)


def _sidecar(**overrides: object) -> SidecarConfig:
    return SidecarConfig.model_validate({"routing": {"stable": IN_CLUSTER.model_dump(by_alias=True)}, **overrides})


def test_without_overrides_a_revision_is_served_as_rendered() -> None:
    assert _sidecar().localise(IN_CLUSTER) == IN_CLUSTER


def test_models_override_swaps_the_backend_but_keeps_model_versions() -> None:
    local = _sidecar(modelsOverride={"backend": "embedded", "embedded": {"repository": "/models"}})
    models = local.localise(IN_CLUSTER).models
    assert (models.backend, models.triton, models.tokenizers) == ("embedded", None, "/models")
    assert models.nli.version == "2"
    assert isinstance(local.models_override, Models)


def test_qdrant_override_keeps_the_revision_collection() -> None:
    local = _sidecar(qdrantOverride={"path": "/tmp/kb"})
    kb = local.localise(IN_CLUSTER).knowledge_base
    assert kb is not None
    assert kb.qdrant == QdrantConfig(path="/tmp/kb")
    assert kb.collection == "faq"
