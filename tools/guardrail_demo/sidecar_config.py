"""The local sidecar's config, made from what the operator rendered. Pure.

In a cluster the sidecar reads the revision ConfigMaps and reaches Triton and Qdrant through Services. kwok
runs no pods, so the demo runs those as local processes and rewrites exactly the endpoints: the Triton URL
(to the local v2 server), the tokenizer folder (to the project's model repository), the Qdrant server (to the
embedded folder loaded with the example knowledge base) and the ports (free loopback ports). Policy, models,
collection, top-K and the canary split are the operator's, unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from guardrail_sidecar.config import QdrantConfig, RevisionConfig, Routing, SidecarConfig


@dataclass(frozen=True)
class LocalEndpoints:
    triton_grpc: str  # host:port of the local v2 server
    tokenizers: str  # model repository folder (<name>/<version>/tokenizer.json)
    qdrant_path: str  # embedded Qdrant folder
    listen_port: int
    upstream_port: int
    admin_port: int


def localize(revision: RevisionConfig, local: LocalEndpoints) -> RevisionConfig:
    """The revision with its backend endpoints pointed at the local processes."""
    models = revision.models
    triton = models.triton.model_copy(update={"url": local.triton_grpc}) if models.triton is not None else None
    models = models.model_copy(update={"triton": triton, "tokenizer_repository": local.tokenizers})
    kb = revision.knowledge_base
    if kb is not None:
        kb = kb.model_copy(update={"qdrant": QdrantConfig(path=local.qdrant_path)})
    return revision.model_copy(update={"models": models, "knowledge_base": kb})


def local_config(
    rendered: SidecarConfig,
    stable: RevisionConfig,
    canary: RevisionConfig | None,
    weight: int,
    local: LocalEndpoints,
) -> SidecarConfig:
    """A sidecar config routing like the Guardrail's status says, with local endpoints and no API watch.

    The demo itself follows the status and rewrites this file (the sidecar reloads it), because the in-cluster
    watch would read the revisions' cluster endpoints.
    """
    proxy = rendered.proxy.model_copy(
        update={
            "listen_host": "127.0.0.1",
            "listen_port": local.listen_port,
            "upstream_host": "127.0.0.1",
            "upstream_port": local.upstream_port,
        }
    )
    routing = Routing(
        stable=localize(stable, local),
        canary=None if canary is None or canary.revision == stable.revision else localize(canary, local),
        canary_weight=weight if canary is not None and canary.revision != stable.revision else 0,
    )
    return rendered.model_copy(
        update={"proxy": proxy, "admin_port": local.admin_port, "routing": routing, "watch": None}
    )


def overrides(rendered: SidecarConfig, local: LocalEndpoints) -> list[tuple[str, str, str]]:
    """(setting, what the operator rendered, what the demo uses) for the output."""
    rev = rendered.routing.stable
    triton = rev.models.triton.url if rev.models.triton is not None else "-"
    qdrant = "-"
    if rev.knowledge_base is not None:
        qdrant = rev.knowledge_base.qdrant.url or rev.knowledge_base.qdrant.path or "-"
    return [
        ("models.triton.url", triton, local.triton_grpc),
        ("models.tokenizerRepository", rev.models.tokenizer_repository or "-", local.tokenizers),
        ("knowledgeBase.qdrant", qdrant, f"path {local.qdrant_path}"),
        ("proxy.listenPort", str(rendered.proxy.listen_port), str(local.listen_port)),
        ("proxy.upstreamPort", str(rendered.proxy.upstream_port), str(local.upstream_port)),
        ("adminPort", str(rendered.admin_port), str(local.admin_port)),
        ("watch", "the Guardrail, via the API", "the demo follows the status and rewrites this file"),
    ]
