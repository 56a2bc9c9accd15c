"""The local sidecar's config: the operator's rendered `sidecar.yaml` plus the sidecar's local overrides. Pure.

In a cluster the sidecar reaches Triton and Qdrant through Services. kwok runs no pods, so the demo runs them
as local processes and sets exactly the sidecar's out-of-cluster overrides: `modelsOverride` (the local Triton
over gRPC, tokenizers from the project's model repository) and `qdrantOverride` (the embedded folder
loaded with the example knowledge base), plus free loopback ports. Everything else is the operator's: the
policy, models, collection and top-K of every revision, and `watch`, with which the sidecar follows the
Guardrail's status (stable revision, canary and weight) through the API server itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from guardrail_contract.sidecar_config import Models, QdrantConfig, SidecarConfig, TritonBackend


@dataclass(frozen=True)
class LocalEndpoints:
    triton_grpc: str  # host:port of the local Triton (gRPC)
    tokenizers: str  # model repository folder (<name>/<version>/tokenizer.json)
    qdrant_path: str  # embedded Qdrant folder
    listen_port: int
    upstream_port: int
    admin_port: int


def local_config(rendered: SidecarConfig, local: LocalEndpoints) -> SidecarConfig:
    """`rendered` with local ports and the overrides that send every revision to the local processes."""
    proxy = rendered.proxy.model_copy(
        update={
            "listen_host": "127.0.0.1",
            "listen_port": local.listen_port,
            "upstream_host": "127.0.0.1",
            "upstream_port": local.upstream_port,
        }
    )
    models = Models(
        backend="triton",
        triton=TritonBackend(url=local.triton_grpc, protocol="grpc"),
        tokenizer_repository=local.tokenizers,
    )
    return rendered.model_copy(
        update={
            "proxy": proxy,
            "admin_port": local.admin_port,
            "models_override": models,
            "qdrant_override": QdrantConfig(path=local.qdrant_path),
        }
    )


def overrides(rendered: SidecarConfig, local: LocalEndpoints) -> list[tuple[str, str, str]]:
    """(setting, what the operator rendered, what the demo's sidecar uses) for the output."""
    rev = rendered.routing.stable
    triton = rev.models.triton.url if rev.models.triton is not None else "-"
    qdrant = "-"
    if rev.knowledge_base is not None:
        qdrant = rev.knowledge_base.qdrant.url or rev.knowledge_base.qdrant.path or "-"
    return [
        ("models.triton.url", triton, f"{local.triton_grpc} (modelsOverride)"),
        ("models.tokenizerRepository", rev.models.tokenizer_repository or "-", local.tokenizers),
        ("knowledgeBase.qdrant", qdrant, f"path {local.qdrant_path} (qdrantOverride)"),
        ("proxy.listenPort", str(rendered.proxy.listen_port), str(local.listen_port)),
        ("proxy.upstreamPort", str(rendered.proxy.upstream_port), str(local.upstream_port)),
        ("adminPort", str(rendered.admin_port), str(local.admin_port)),
    ]
