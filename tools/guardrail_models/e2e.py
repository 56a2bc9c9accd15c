"""What the sidecar decides on an answer, computed in process: claims → evidence passages → NLI → one score.

The sidecar's own pure functions split answers into claims and context into passages (`guardrail_sidecar.claims`,
`claims_of`); this module adds the embedded models and the choices the sidecar makes around them, as variants to
compare on development data:

- aggregation: `weakest` (the sidecar's rule: an answer is as grounded as its weakest claim), `whole` (the whole
  answer as one claim), `mean` (mean claim score), `fusion` (a logistic fit on the weakest, mean and whole-answer
  logits, fitted on the calibration split, never on dev);
- claim context: `none`, `question` (the question before every claim), `previous` / `previous2` (the previous
  one or two sentences before each claim: pronouns get their referent), `prefix` (the answer so far), `bounded`
  (the answer so far, at most as long as the claim itself), and `either-…` (the better of the claim alone and
  that reading);
- evidence: the top K passages by embedding similarity (0: all), with or without the conversation's earlier turns.

`stream_claims` reproduces what the streaming path scores (sentences as they complete in a `SentenceBuffer`, a
short answer with its question at the end), so both paths can be compared on the same answers.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from guardrail_models.runtime import EmbeddingModel, NliModel
from guardrail_sidecar.scoring import claims as sidecar_claims

Aggregation = Literal["weakest", "whole", "mean", "fusion"]
ClaimContext = Literal[
    "none",
    "question",
    "previous",
    "previous2",
    "prefix",
    "bounded",
    "either-prefix",
    "either-bounded",
]
Array = npt.NDArray[np.float64]
MAX_REQUEST_PASSAGES = 64  # the sidecar's cap on passages taken from a request
_WORD = re.compile(r"\w")
_HUMAN = re.compile(r"\[Human\]:\s*(.*?)\s*(?=\[Assistant\]:|\[Human\]:|$)", re.DOTALL)


@dataclass(frozen=True)
class Case:
    """One answer to check, as a request would carry it: evidence (a system message), the question (the last
    user turn), earlier user turns, and the label (1: grounded, 0: hallucinated)."""

    task: str
    row: int
    evidence: str
    question: str
    answer: str
    label: int
    history: tuple[str, ...] = ()


@dataclass(frozen=True)
class Variant:
    aggregation: Aggregation = "weakest"
    context: ClaimContext = "none"
    top_k: int = 4  # passages per claim by embedding similarity; 0: every passage
    conversation: bool = True  # earlier user turns are context passages too (the sidecar reads them)
    joined: bool = False  # one pair per claim: its top K passages joined in context order (else: best passage)

    @property
    def name(self) -> str:
        convo = "" if self.conversation else ", no conversation"
        k = "all" if self.top_k == 0 else str(self.top_k)
        joined = ", joined" if self.joined else ""
        return f"{self.aggregation}, context {self.context}, top-{k}{joined}{convo}"


SIDECAR = Variant()  # what the sidecar does today


def human_turns(history: str) -> tuple[str, ...]:
    """The [Human] turns of a HaluEval dialogue history, in order."""
    return tuple(t for t in _HUMAN.findall(history) if t.strip())


def claims_of(answer: str, question: str) -> list[str]:
    """The sidecar's claims of an answer (`pipeline.claims_of`): its sentences; a short answer with none is
    checked together with its question."""
    found = sidecar_claims.claims(answer)
    text, question = answer.strip(), question.strip()
    if found or not question or not _WORD.search(text) or text.endswith("?"):
        return found
    return [f"{question} {text}"]


def stream_claims(answer: str, question: str, chunk: int = 7) -> list[str]:
    """The claims the streaming path scores: pieces as a `SentenceBuffer` completes them from `chunk`-character
    deltas, and, when the whole stream held none, the short answer with its question (`streaming._Gate`)."""
    buffer = sidecar_claims.SentenceBuffer()
    pieces: list[sidecar_claims.Piece] = []
    for start in range(0, len(answer), chunk):
        pieces += buffer.feed(answer[start : start + chunk])
    pieces += buffer.finish()
    texts = sidecar_claims.claim_texts(pieces)[0]
    return texts or claims_of("".join(p.text for p in pieces), question)


def with_context(claims: list[str], question: str, context: ClaimContext) -> list[str]:
    if context == "question" and question.strip():
        return [c if c.startswith(question.strip()) else f"{question.strip()} {c}" for c in claims]
    if context == "previous" and claims:
        return [claims[0], *(f"{before} {claim}" for before, claim in itertools.pairwise(claims))]
    if context == "previous2":
        return [" ".join(claims[max(0, i - 2) : i + 1]) for i in range(len(claims))]
    if context == "prefix":  # the answer so far
        return [" ".join(claims[: i + 1]) for i in range(len(claims))]
    if context == "bounded":  # the answer so far, no more of it than the claim's own length
        return [" ".join([*_nearest(claims[:i], len(claim)), claim]) for i, claim in enumerate(claims)]
    return claims


def _nearest(before: list[str], limit: int) -> list[str]:
    """The sentences nearest the end of `before` (whole, in order) that fit in `limit` characters."""
    kept: list[str] = []
    size = 0
    for sentence in reversed(before):
        size += len(sentence) + 1
        if size > limit:
            break
        kept.append(sentence)
    return kept[::-1]


def passages_of(case: Case, conversation: bool) -> list[str]:
    """The request's context cut into passages as the sidecar cuts it (evidence first, then earlier turns)."""
    texts = [case.evidence, *(case.history if conversation else ())]
    found = (p for text in texts for p in sidecar_claims.passages(text))
    return list(dict.fromkeys(found))[:MAX_REQUEST_PASSAGES]


class CachedModels:
    """The embedded models with caches, so variants over the same answers score each pair once."""

    def __init__(self, nli: NliModel, embedding: EmbeddingModel) -> None:
        self.nli, self.embedding = nli, embedding
        self._scores: dict[tuple[str, str], float] = {}
        self._vectors: dict[str, npt.NDArray[np.float32]] = {}

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            for text, vector in zip(missing, self.embedding.embed(missing), strict=True):
                self._vectors[text] = vector
        return np.stack([self._vectors[t] for t in texts])

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        missing = [p for p in dict.fromkeys(pairs) if p not in self._scores]
        if missing:
            for pair, value in zip(missing, self.nli.score(missing), strict=True):
                self._scores[pair] = float(value)
        return [self._scores[p] for p in pairs]

    def prefetch(self, jobs: Iterable[tuple[list[str], list[str]]]) -> None:
        """Score many (passages, claims) jobs' pairs in one batched call (batches sorted by length)."""
        pairs = [(p, c) for passages, claims in jobs for c in claims for p in passages]
        self.score(pairs)


def best_evidence(
    models: CachedModels, claims: list[str], passages: list[str], top_k: int, joined: bool = False
) -> list[list[str]]:
    """Per claim, the passages it is scored against: the top K by cosine similarity (the sidecar's retrieval);
    `joined`: one evidence text instead, those passages joined in the order the context has them."""
    if not passages:
        return [[] for _ in claims]
    if top_k == 0 or top_k >= len(passages):
        return [[" ".join(passages)] if joined else passages for _ in claims]
    vectors = models.embed([*claims, *passages])
    claim_vecs, passage_vecs = vectors[: len(claims)], vectors[len(claims) :]
    out = []
    for vector in claim_vecs:
        order = np.argsort(-(passage_vecs @ vector), kind="stable")[:top_k]
        chosen = [passages[int(j)] for j in (sorted(order) if joined else order)]
        out.append([" ".join(chosen)] if joined else chosen)
    return out


@dataclass(frozen=True)
class Scored:
    """Per answer: each claim's best score (max over its passages) and the whole answer's best score (nan when the
    aggregation does not read it)."""

    claims: tuple[float, ...]
    whole: float


def score_case(models: CachedModels, case: Case, variant: Variant, stream: bool = False) -> Scored:
    raw = stream_claims(case.answer, case.question) if stream else claims_of(case.answer, case.question)
    passages = passages_of(case, variant.conversation)

    def scored(context: ClaimContext) -> tuple[float, ...]:
        texts = with_context(raw, case.question, context)
        evidence = best_evidence(models, texts, passages, variant.top_k, variant.joined)
        return tuple(
            max(models.score([(p, c) for p in found]), default=0.0) for c, found in zip(texts, evidence, strict=True)
        )

    if variant.context.startswith("either-"):  # a sentence holds alone or read after what came before it
        alone, carried = scored("none"), scored(variant.context.removeprefix("either-"))  # type: ignore[arg-type]
        claim_scores = tuple(max(a, b) for a, b in zip(alone, carried, strict=True))
    else:
        claim_scores = scored(variant.context)
    if variant.aggregation in ("weakest", "mean"):  # the whole answer is not needed: not scored (time)
        return Scored(claim_scores, float("nan"))
    whole_text = " ".join(raw) if raw else case.answer.strip()
    whole_evidence = best_evidence(models, [whole_text], passages, variant.top_k, variant.joined)[0]
    whole = max(models.score([(p, whole_text) for p in whole_evidence]), default=0.0)
    return Scored(claim_scores, whole)


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def fusion_features(scored: Scored) -> list[float]:
    """Logits of the weakest claim, the mean claim and the whole answer (an answer without claims passes: 1)."""
    claims = scored.claims or (1.0,)
    return [_logit(min(claims)), _logit(float(np.mean(claims))), _logit(scored.whole)]


def fit_logistic(features: Array, labels: Array, l2: float = 1e-2, iterations: int = 50) -> Array:
    """Weights (bias last) of an L2-regularised logistic regression by Newton's method (pure numpy, seedless)."""
    x = np.hstack([features, np.ones((len(features), 1))])
    w = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        gradient = x.T @ (p - labels) + l2 * w
        hessian = (x * (p * (1 - p))[:, None]).T @ x + l2 * np.eye(len(w))
        w -= np.linalg.solve(hessian, gradient)
    return w


def aggregate(scored: Scored, aggregation: Aggregation, fusion: Array | None = None) -> float:
    if aggregation == "whole":
        return scored.whole
    if not scored.claims:
        return 1.0  # nothing checkable passes, as in the sidecar
    if aggregation == "weakest":
        return min(scored.claims)
    if aggregation == "mean":
        return float(np.mean(scored.claims))
    if fusion is None:
        raise ValueError("the fusion aggregation needs fitted weights")
    z = float(np.dot(fusion[:-1], fusion_features(scored)) + fusion[-1])
    return 1.0 / (1.0 + math.exp(-z))


def score_cases(
    models: CachedModels,
    cases: Sequence[Case],
    variant: Variant,
    fusion: Array | None = None,
    stream: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Array:
    """The answer-level score of each case under `variant` (for `fusion`, with fitted weights)."""
    out = np.zeros(len(cases))
    for index, case in enumerate(cases):
        out[index] = aggregate(score_case(models, case, variant, stream), variant.aggregation, fusion)
        if progress is not None:
            progress(1)
    return out


def fit_fusion(models: CachedModels, cases: Sequence[Case], variant: Variant) -> Array:
    scored = [score_case(models, c, variant) for c in cases]  # `fusion` scores the whole answer too
    features = np.array([fusion_features(s) for s in scored])
    return fit_logistic(features, np.array([c.label for c in cases], dtype=np.float64))
