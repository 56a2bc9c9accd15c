"""Building the scoring pipeline of a revision, with the clients revisions share.

Backends and Qdrant clients are shared between revisions that name the same ones (embedded Qdrant allows one
client per folder) and survive reloads; a pipeline is rebuilt only when its revision's config changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from qdrant_client import AsyncQdrantClient

from guardrail_contract.sidecar_config import Models, QdrantConfig, RevisionConfig
from guardrail_sidecar.observability.metrics import Metrics
from guardrail_sidecar.scoring.backends import InferenceBackend
from guardrail_sidecar.scoring.backends.triton import TritonBackend
from guardrail_sidecar.scoring.knowledge import KnowledgeStore, connect
from guardrail_sidecar.scoring.pipeline import Pipeline
from guardrail_sidecar.scoring.scorer import Scorer, ScoringModels


class PipelineBuilder:
    def __init__(self, metrics: Metrics, make_scorer: Callable[[RevisionConfig], ScoringModels] | None = None) -> None:
        self.metrics = metrics
        self._make_scorer = make_scorer
        self._backends: dict[str, InferenceBackend] = {}
        self._qdrant: dict[str, AsyncQdrantClient] = {}
        self._pipelines: dict[str, Pipeline] = {}

    def _backend(self, models: Models) -> InferenceBackend:
        if models.backend == "triton" and models.triton is not None:
            key = "triton:" + models.triton.model_dump_json()
            if key not in self._backends:
                self._backends[key] = TritonBackend(models.triton)
        elif models.embedded is not None:
            key = "embedded:" + models.embedded.model_dump_json()
            if key not in self._backends:
                from guardrail_sidecar.scoring.backends.embedded import EmbeddedBackend  # onnxruntime when used

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

    def pipeline(self, revision: RevisionConfig) -> Pipeline:
        """The pipeline of `revision` (already localised): the cached one while its config is unchanged."""
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

    def keep_only(self, revisions: Iterable[RevisionConfig]) -> None:
        """Drop the cached pipelines (and their caches) of revisions no longer served."""
        live = {r.model_dump_json() for r in revisions}
        for key in [k for k in self._pipelines if k not in live]:
            del self._pipelines[key]

    async def close(self) -> None:
        for backend in self._backends.values():
            await backend.close()
        for client in self._qdrant.values():
            await client.close()
