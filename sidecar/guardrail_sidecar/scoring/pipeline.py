"""The scoring pipeline of one revision: request checks, then claims → evidence → NLI → verdict."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re

import numpy as np

from guardrail_contract.sidecar_config import RevisionConfig
from guardrail_sidecar.detectors.policy import RevisionDetectors
from guardrail_sidecar.errors import BackendError, RequestError
from guardrail_sidecar.observability import tracing
from guardrail_sidecar.observability.metrics import Metrics
from guardrail_sidecar.scored_path.protocols import ScoringRequest
from guardrail_sidecar.scoring import claims as claims_mod
from guardrail_sidecar.scoring.knowledge import KnowledgeStore
from guardrail_sidecar.scoring.scorer import ScoringModels
from guardrail_sidecar.scoring.textnorm import for_detection
from guardrail_sidecar.scoring.verdict import Assessment, ClaimScore, Evidence, aggregate, on_backend_error

log = logging.getLogger("guardrail.sidecar")
MAX_REQUEST_PASSAGES = 64
_WORD = re.compile(r"\w")


def claims_of(answer: str, request: ScoringRequest) -> list[str]:
    """The answer's claims; a short answer with none ("14 days.") is checked together with its question."""
    found = claims_mod.claims(answer)
    text, question = answer.strip(), request.question.strip()
    if found or not question or not _WORD.search(text) or text.endswith("?"):
        return found
    return [f"{question} {text}"]


class Pipeline:
    def __init__(
        self,
        config: RevisionConfig,
        scorer: ScoringModels,
        knowledge: KnowledgeStore | None,
        metrics: Metrics,
    ) -> None:
        self.config = config
        self.revision = config.revision
        self.policy = config.policy
        self.scorer = scorer
        self.knowledge = knowledge
        self.metrics = metrics
        self.detectors = RevisionDetectors(config.detectors or [], config.policy.mode)  # spec.detectors (pii)
        self._warned_no_injection = False

    async def ready(self) -> bool:
        if not await self.scorer.ready():
            return False
        return self.knowledge is None or await self.knowledge.ready()

    async def injection_score(self, request: ScoringRequest) -> float | None:
        """Highest P(injection) over every window of `injection_windows`; None when detection is off or the model
        is not deployed."""
        if not self.policy.prompt_injection.enabled:
            return None
        if not await self.scorer.injection_available():
            if not self._warned_no_injection:
                self._warned_no_injection = True
                log.warning(
                    "prompt-injection detection is enabled but the injection model is not deployed",
                    extra={"fields": {"revision": self.revision, "model": self.config.models.injection.name}},
                )
            return None
        windows = self.injection_windows(request)
        tracing.injection_windows(len(windows))
        if not windows:
            return None
        return max(await self.scorer.injection(windows))

    def injection_windows(self, request: ScoringRequest) -> list[str]:
        """Every client-supplied text (the question, every turn of every role, tool calls and definitions, the
        json protocol's context), normalised for detection (`textnorm`), whole, sentence by sentence (long
        sentences in overlapping token windows: `Scorer.windows`).

        At most `promptInjection.maxWindows`: a request needing more is refused (413) under fail-closed, so
        nothing goes unread; under fail-open the first ones (the question, then the latest turns) are checked."""
        budget = self.policy.prompt_injection.max_windows
        trusted = set(self.policy.prompt_injection.trusted_sha256)
        windows: dict[str, None] = {}
        for text in dict.fromkeys(t for t in (request.question, *request.untrusted) if t.strip()):
            if trusted and hashlib.sha256(text.encode("utf-8")).hexdigest() in trusted:
                continue  # an operator's own text, exactly (e.g. its system prompt)
            windows.update(dict.fromkeys(self.scorer.windows(for_detection(text), budget - len(windows))))
            if len(windows) > budget:
                break
        if len(windows) <= budget:
            return list(windows)
        if self.policy.on_backend_error == "fail-closed":
            raise RequestError(
                413,
                "injection_budget_exceeded",
                f"the request is too long to check for prompt injection (over {budget} windows of the "
                "detector; policy.promptInjection.maxWindows); send less text",
            )
        log.warning(
            "request longer than the injection budget: checked in part (fail-open)",
            extra={"fields": {"revision": self.revision, "budget": budget}},
        )
        return list(windows)[:budget]

    def is_injection(self, score: float | None) -> bool:
        return score is not None and score >= self.policy.prompt_injection.threshold

    async def score_claims(self, texts: list[str], request: ScoringRequest) -> list[ClaimScore]:
        """Each claim scored against its best evidence (knowledge base top-K plus request context)."""
        if not texts:
            return []
        context = list(dict.fromkeys(p for c in request.context for p in claims_mod.passages(c)))[:MAX_REQUEST_PASSAGES]
        kb = self.config.knowledge_base
        top_k = kb.top_k if kb else 4
        with tracing.retrieval(kb.collection if kb else None, top_k) as span:
            vectors = await self.scorer.embed(texts + context)
            claim_vecs, context_vecs = vectors[: len(texts)], vectors[len(texts) :]
            kb_hits: list[list[Evidence]]
            if self.knowledge is not None:
                kb_hits = list(await asyncio.gather(*(self.knowledge.search(v) for v in claim_vecs)))
            else:
                kb_hits = [[] for _ in texts]
            candidates: list[list[Evidence]] = []
            for i, vec in enumerate(claim_vecs):
                found = list(kb_hits[i])
                if context:
                    sims = context_vecs @ vec
                    for j in np.argsort(-sims)[:top_k]:
                        found.append(Evidence(f"request:{int(j)}", context[int(j)], "request", float(sims[j])))
                candidates.append(found)
            tracing.retrieved(span, sum(map(len, candidates)))
        pairs = [(ev.text, claim) for claim, evs in zip(texts, candidates, strict=True) for ev in evs]
        with tracing.nli(len(pairs)):
            scores = iter(await self.scorer.nli(pairs))
        out = []
        for claim, evs in zip(texts, candidates, strict=True):
            scored = [(next(scores), ev) for ev in evs]
            best = max(scored, key=lambda s: s[0], default=None)
            out.append(ClaimScore(claim, best[0], best[1]) if best else ClaimScore(claim, 0.0, None))
        return out

    async def assess_claims(self, texts: list[str], request: ScoringRequest) -> Assessment:
        """The verdict on some claims; a backend failure becomes the configured fail-open/closed verdict."""
        with tracing.scoring(self.revision, texts) as span:
            try:
                scored = await self.score_claims(texts, request)
            except BackendError as exc:
                assessment = self.backend_failed(exc)
            else:
                assessment = aggregate(scored, self.policy.threshold, self.policy.soft_limit)
            tracing.scored(span, assessment)
        return assessment

    async def assess(self, answer: str, request: ScoringRequest) -> Assessment:
        return await self.assess_claims(claims_of(answer, request), request)

    def backend_failed(self, exc: BackendError) -> Assessment:
        self.metrics.backend_errors.labels(self.revision, exc.backend).inc()
        self.metrics.backend_error_decisions.labels(self.revision, self.policy.on_backend_error).inc()
        return on_backend_error(self.policy.on_backend_error, str(exc))
