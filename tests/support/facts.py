"""The example knowledge base the benchmarks load: six support facts, keyed by point id."""

from __future__ import annotations

from typing import Any

FACTS = {
    "refunds": "Refunds are paid to the original payment method within 14 days after we receive the returned item.",
    "shipping": "Shipping is free for orders above 50 euros; smaller orders pay a flat fee of 4.90 euros.",
    "support": "Customer support is available Monday to Friday from 9:00 to 17:00 CET.",
    "returns": "Returns are accepted within 30 days of delivery if the item is unused.",
    "gift-cards": "Gift cards cannot be exchanged for cash.",
    "warranty": "The warranty on electronics lasts two years from the date of purchase.",
}


async def load_facts(config: dict[str, Any]) -> None:
    """Embed FACTS with the stable revision's models of a sidecar `config` (wire form) and store them in its
    knowledge base (an embedded Qdrant), as the sidecar will read them."""
    from guardrail_contract.sidecar_config import SidecarConfig
    from guardrail_sidecar.observability.metrics import Metrics
    from guardrail_sidecar.revisions.served import ServedRevisions
    from guardrail_sidecar.scoring.knowledge import upsert_passages

    cfg = SidecarConfig.model_validate(config)
    kb = cfg.routing.stable.knowledge_base
    if kb is None:
        raise ValueError("the sidecar config's stable revision has no knowledge base to load")
    revisions = ServedRevisions(cfg, Metrics())
    revisions.apply(cfg)
    try:
        vectors = await revisions.pick(None).scorer.embed(list(FACTS.values()))
        await upsert_passages(revisions.qdrant(kb.qdrant), kb.collection, list(FACTS), list(FACTS.values()), vectors)
    finally:
        await revisions.close()
