"""The live routing state: one pipeline per revision, the canary weight, and hot reload of the config.

Backends and Qdrant clients are shared between revisions that name the same ones (embedded Qdrant allows
one client per folder), and survive reloads; a reload rebuilds only revisions whose config changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from qdrant_client import AsyncQdrantClient

from guardrail_contract.sidecar_config import Models, QdrantConfig, RevisionConfig, SidecarConfig
from guardrail_sidecar.observability.metrics import Metrics
from guardrail_sidecar.revisions.split import use_canary
from guardrail_sidecar.scoring.backends import InferenceBackend
from guardrail_sidecar.scoring.backends.triton import TritonBackend
from guardrail_sidecar.scoring.knowledge import KnowledgeStore, connect
from guardrail_sidecar.scoring.pipeline import Pipeline
from guardrail_sidecar.scoring.scorer import Scorer, ScoringModels

log = logging.getLogger("guardrail.sidecar")


class Runtime:
    def __init__(
        self,
        config: SidecarConfig,
        metrics: Metrics,
        make_scorer: Callable[[RevisionConfig], ScoringModels] | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self._make_scorer = make_scorer
        self._backends: dict[str, InferenceBackend] = {}
        self._qdrant: dict[str, AsyncQdrantClient] = {}
        self._pipelines: dict[str, Pipeline] = {}
        self.stable: Pipeline | None = None
        self.canary: Pipeline | None = None
        self.weight = 0
        self._status: tuple[str | None, int] | None = None  # (canary revision, weight) from the Guardrail
        self._watched: tuple[RevisionConfig | None, RevisionConfig | None] | None = None  # (stable, canary)

    def _backend(self, models: Models) -> InferenceBackend:
        if models.backend == "triton" and models.triton is not None:
            key = "triton:" + models.triton.model_dump_json()
            if key not in self._backends:
                self._backends[key] = TritonBackend(models.triton)
        elif models.embedded is not None:
            key = "embedded:" + models.embedded.model_dump_json()
            if key not in self._backends:
                from guardrail_sidecar.scoring.backends.embedded import (
                    EmbeddedBackend,  # onnxruntime only when used (~25 MiB RSS)
                )

                self._backends[key] = EmbeddedBackend(
                    models.embedded.repository,
                    models.embedded.threads,
                    concurrency=models.embedded.concurrency,
                    max_batch=models.embedded.max_batch,
                )
        return self._backends[key]

    def qdrant(self, qdrant: QdrantConfig) -> AsyncQdrantClient:
        """The (shared) client for a Qdrant: embedded Qdrant allows one per folder, so reuse this one."""
        key = qdrant.model_dump_json()
        if key not in self._qdrant:
            self._qdrant[key] = connect(qdrant)
        return self._qdrant[key]

    def _pipeline(self, revision: RevisionConfig) -> Pipeline:
        revision = self.config.localise(revision)
        key = revision.model_dump_json()
        if key not in self._pipelines:
            scorer = (
                self._make_scorer(revision)
                if self._make_scorer is not None
                else Scorer(
                    self._backend(revision.models),
                    revision.models,
                    revision.cache,
                    self.metrics,
                    revision.revision,
                )
            )
            kb = revision.knowledge_base
            store = KnowledgeStore(self.qdrant(kb.qdrant), kb) if kb is not None else None
            self._pipelines[key] = Pipeline(revision, scorer, store, self.metrics)
        return self._pipelines[key]

    def apply(self, config: SidecarConfig) -> None:
        """Switch to `config`'s routing: unchanged revisions keep their pipelines (and caches).

        Once the Guardrail's status is followed, its revisions win over the file's (a reload keeps them)."""
        if self._watched is not None:
            config = self._with_watched(config)
        routing = config.routing
        if config.proxy != self.config.proxy or config.admin_port != self.config.admin_port:
            log.warning("proxy and admin port settings apply at the next restart; routing applies now")
        served = [config.localise(r) for r in (routing.stable, routing.canary) if r is not None]
        stable = self._pipeline(served[0])
        canary = self._pipeline(served[1]) if len(served) > 1 else None
        live = {r.model_dump_json() for r in served}
        for key in [k for k in self._pipelines if k not in live]:
            del self._pipelines[key]
        self.config, self.stable, self.canary = config, stable, canary
        self.set_weight(self._effective_weight())

    def follow_status(self, revision: str | None, weight: int) -> None:
        """The Guardrail's status.canary (Kubernetes watch): from now on it decides the weight."""
        self._status = (revision, weight)
        self.set_weight(self._effective_weight())

    def follow_guardrail(
        self, stable: RevisionConfig | None, canary: RevisionConfig | None, canary_revision: str | None, weight: int
    ) -> None:
        """Apply the Guardrail's status: its stable and canary revision configs (None: keep / none) and weight."""
        self._watched = (stable, canary)
        self._status = (canary_revision, weight)
        self.apply(self.config)

    def _with_watched(self, config: SidecarConfig) -> SidecarConfig:
        stable, canary = self._watched or (None, None)
        routing = config.routing
        new_stable = stable or routing.stable
        new_canary = canary or (
            routing.canary if self._status and routing.canary and routing.canary.revision == self._status[0] else None
        )
        if new_canary is not None and new_canary.revision == new_stable.revision:
            new_canary = None
        update = {"stable": new_stable, "canary": new_canary}
        return config.model_copy(update={"routing": routing.model_copy(update=update)})

    def _effective_weight(self) -> int:
        """The status's weight once watched (0 unless it names our canary), else the config file's."""
        if self.canary is None:
            return 0
        if self._status is None:
            return self.config.routing.canary_weight
        revision, weight = self._status
        return weight if revision == self.canary.revision else 0

    def set_weight(self, weight: int) -> None:
        weight = max(0, min(100, weight))
        if weight != self.weight:
            log.info("canary weight changed", extra={"fields": {"from": self.weight, "to": weight}})
        self.weight = weight
        if self.canary is not None:
            self.metrics.canary_weight.labels(self.canary.revision).set(weight / 100)  # a 0-1 ratio

    def pick(self, sticky_key: str | None = None) -> Pipeline:
        """The pipeline scoring a request: the canary for `weight` percent of requests, drawn at random (or by
        a hash of `sticky_key`, the value of `routing.stickyHeader`, when the operator configured one)."""
        if self.stable is None:
            raise RuntimeError("Runtime.apply() must run before requests are served")
        if self.canary is not None and use_canary(self.weight, sticky_key):
            return self.canary
        return self.stable

    def pipelines(self) -> list[Pipeline]:
        return [p for p in (self.stable, self.canary) if p is not None]

    async def readiness(self) -> dict[str, bool]:
        """Per revision: whether it can serve. A fail-closed revision needs its models, knowledge base and
        (when prompt-injection detection is on) the injection model, since without them it refuses every
        request; a fail-open revision keeps serving when they are down (its answers pass, counted)."""
        out = {}
        for p in self.pipelines():
            ok = p.policy.on_backend_error == "fail-open" or (
                await p.ready() and (not p.policy.prompt_injection.enabled or await p.scorer.injection_available())
            )
            out[p.revision] = ok
        return out

    async def ready(self) -> bool:
        return all((await self.readiness()).values())

    async def close(self) -> None:
        for backend in self._backends.values():
            await backend.close()
        for client in self._qdrant.values():
            await client.close()
