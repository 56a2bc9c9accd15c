"""The revisions this sidecar serves now: the routing table's revisions as pipelines, and the request split.

One road for a revision's config and weight (docs/architecture.md): the operator renders each revision into
its ConfigMap `<guardrail>-config-<revision>`; the webhook mounts the serving revision's `sidecar.yaml` and
the sidecar starts from it (`reload` re-applies it when it changes); with `watch` set, `watch` follows the
Guardrail's status and reads `revision.yaml` of the stable and canary ConfigMaps by name. Both land here, in
`apply` and `follow_*`; `table.route` decides, `pipelines` builds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from qdrant_client import AsyncQdrantClient

from guardrail_contract.sidecar_config import QdrantConfig, RevisionConfig, SidecarConfig
from guardrail_sidecar.observability.metrics import Metrics
from guardrail_sidecar.revisions.pipelines import PipelineBuilder
from guardrail_sidecar.revisions.split import use_canary
from guardrail_sidecar.revisions.table import CanaryShare, Followed, clamp, route
from guardrail_sidecar.scored_path.shadow import Shadow
from guardrail_sidecar.scoring.pipeline import Pipeline
from guardrail_sidecar.scoring.scorer import ScoringModels

log = logging.getLogger("guardrail.sidecar")


class ServedRevisions:
    def __init__(
        self,
        config: SidecarConfig,
        metrics: Metrics,
        make_scorer: Callable[[RevisionConfig], ScoringModels] | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self._builder = PipelineBuilder(metrics, make_scorer)
        self.stable: Pipeline | None = None
        self.canary: Pipeline | None = None
        self.weight = 0
        self.shadow = Shadow(metrics.registry)  # the shadow stage: the canary scores a sample off the response path
        self._share: CanaryShare | None = None  # from the Guardrail's status, once followed
        self._followed: Followed | None = None

    def apply(self, config: SidecarConfig) -> None:
        """Switch to `config`'s routing: unchanged revisions keep their pipelines (and caches).

        Once the Guardrail's status is followed, its revisions win over the file's (a reload keeps them)."""
        if config.proxy != self.config.proxy or config.admin_port != self.config.admin_port:
            log.warning("proxy and admin port settings apply at the next restart; routing applies now")
        table = route(config.routing, self._share, self._followed)
        served = [config.localise(r) for r in (table.stable, table.canary) if r is not None]
        stable = self._builder.pipeline(served[0])
        canary = self._builder.pipeline(served[1]) if len(served) > 1 else None
        self._builder.keep_only(served)
        routing = config.routing.model_copy(update={"stable": table.stable, "canary": table.canary})
        self.config, self.stable, self.canary = config.model_copy(update={"routing": routing}), stable, canary
        self.set_weight(table.weight)
        if self._followed is None:  # once the Guardrail is followed, its rollout sets the shadow rate
            self.shadow.set_rate(config.routing.shadow_sample_rate)

    def follow_status(self, revision: str | None, weight: int) -> None:
        """The Guardrail's status.canary (Kubernetes watch): from now on it decides the weight."""
        self._share = CanaryShare(revision, weight)
        self.apply(self.config)

    def follow_guardrail(
        self, stable: RevisionConfig | None, canary: RevisionConfig | None, canary_revision: str | None, weight: int
    ) -> None:
        """Apply the Guardrail's status: its stable and canary revision configs (None: keep / none) and weight."""
        self._followed = Followed(stable, canary)
        self._share = CanaryShare(canary_revision, weight)
        self.apply(self.config)

    def set_weight(self, weight: int) -> None:
        weight = clamp(weight)
        if weight != self.weight:
            log.info("canary weight changed", extra={"fields": {"from": self.weight, "to": weight}})
        self.weight = weight
        if self.canary is not None:
            self.metrics.canary_weight.labels(self.canary.revision).set(weight / 100)  # a 0-1 ratio

    def pick(self, sticky_key: str | None = None) -> Pipeline:
        """The pipeline scoring a request: the canary for `weight` percent of requests, drawn at random (or by
        a hash of `sticky_key`, the value of `routing.stickyHeader`, when the operator configured one)."""
        if self.stable is None:
            raise RuntimeError("ServedRevisions.apply() must run before requests are served")
        if self.canary is not None and use_canary(self.weight, sticky_key):
            return self.canary
        return self.stable

    def pipelines(self) -> list[Pipeline]:
        return [p for p in (self.stable, self.canary) if p is not None]

    def qdrant(self, qdrant: QdrantConfig) -> AsyncQdrantClient:
        return self._builder.qdrant(qdrant)

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
        await self.shadow.close()
        await self._builder.close()
