"""Poisoning checks at ingestion: which chunks to quarantine (stored for review, never served). Pure.

Three checks, each with a configurable threshold:
- **injection**: instruction-like text aimed at a model (indirect prompt injection). The score is the larger
  of the injection model's probability (when the repository has one) and a pattern check for the classic
  phrasings ("ignore previous instructions", "you are now", chat-template tokens, ...). Both read the chunk as
  the sidecar's injection check reads a request (`decoding.views`): as written, normalised (confusables folded,
  invisible characters removed) and decoded (base64, hex, rot13, percent, leetspeak, spaced letters); the
  model reads each view sentence by sentence (`injection.chunk_windows`) and the highest score counts.
  Retrieved passages never pass the sidecar's request-side check: this is their gate. The default threshold
  (0.995, chosen again for the four-layer injection encoder; 0.99 for the three-layer one, 0.995 for the head
  before it) is the lowest that quarantines at most 1 % of clean development chunks (`poisoning_eval`,
  docs/knowledge-base.md): a sentence read alone scores higher than the whole chunk did, on clean prose too.
- **contradiction**: near-duplicate chunks from different sources (cosine at least `duplicate`), or related
  chunks (cosine at least `related`: about the same thing) holding sentences that are the same once numbers
  and negations are masked, which differ in their numbers or in negation: both chunks are quarantined, since
  nothing tells which one is true. (`related` keeps template sentences about different subjects apart, such
  as "The population was 7,585 at the 2010 census." in two articles about two towns.)
- **outlier**: a chunk whose similarity to the corpus centroid lies more than `outlier_z` standard deviations
  below the mean (only for corpora of at least `outlier_min_chunks` chunks).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from guardrail_sidecar.scoring.claims import split
from guardrail_sidecar.scoring.decoding import views

Check = Literal["injection", "contradiction", "outlier"]
# How chunks are screened (the patterns, how the injection model reads a chunk): part of the knowledge-base version
# (`versions.version_hash`), so a change re-screens an unchanged corpus once. Change it with the screening.
SCREENING = "3: patterns and injection model on each view, the model per sentence window (initials do not end one)"
BLOCK = 1024
MIN_SENTENCE_WORDS = 5
_INSTRUCTION_PATTERNS = [
    r"\b(ignore|disregard|forget|override)\b.{0,40}\b(previous|prior|above|earlier|all|your|system)\b.{0,30}"
    r"\b(instructions?|prompts?|rules|directions|guidelines)\b",
    r"\byou are now\b|\bact as (an? )?(unrestricted|jailbroken|different)\b",
    r"\bdeveloper mode\b|\bjailbreak (mode|prompt)",
    r"\b(reveal|print|repeat|show|share|display|leak)\b.{0,30}\b(system prompt|(initial|original|your) prompt|"
    r"hidden (instructions|parameters|rules)|your (guidelines|instructions|rules|configuration))\b",
    r"\b(bypass|disable|circumvent|override)\b.{0,20}\b(safety|filters?|restrictions|guardrails?|content polic)",
    r"\b(if you are|attention|note to|dear)( an?| the| any)? (ai|llm|language model|ai assistant|chatbot)s?\b",
    r"\b(note|message|instructions?) (to|for) (the |any )?(assistant|model|bot)s?\b",
    r"\b(ai|llm|language model|chatbot|bot)s?\b.{0,40}\b(must|should|are instructed to)\b.{0,30}"
    r"\b(tell|say|answer|respond|recommend|claim)\b",
    r"<\|im_start\|>|<\|system\|>|\[/?INST\]|<</?SYS>>|^#+ ?(system|instruction)s?:?",
    r"\bdo not (tell|reveal|mention|disclose)\b.{0,20}\b(the )?(user|customer)s?\b",
]
_INSTRUCTION = re.compile("|".join(f"(?:{p})" for p in _INSTRUCTION_PATTERNS), re.IGNORECASE | re.MULTILINE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_DO_NOT = re.compile(r"\b(do|does|did)\s+not\b", re.I)  # do-support appears only in the negation
_NEGATION = re.compile(r"\b(not|no|never|none|cannot|can't|won't|don't|doesn't|isn't|aren't|without)\b", re.I)


@dataclass(frozen=True)
class Thresholds:
    injection: float = 0.995
    duplicate: float = 0.9
    related: float = 0.4
    outlier_z: float = 4.0
    outlier_min_chunks: int = 20

    def __post_init__(self) -> None:
        if not (0 < self.injection <= 1 and 0 < self.duplicate <= 1 and -1 <= self.related <= 1 and self.outlier_z > 0):
            raise ValueError(
                "poisoning thresholds: injection and duplicate in (0, 1], related in [-1, 1], outlier z above 0"
            )


@dataclass(frozen=True)
class Finding:
    index: int
    check: Check
    score: float
    detail: str


def _phrasing(text: str) -> Literal["plain", "disguised"] | None:
    """Where the text carries phrasing that addresses a model: as written ("plain"), only once normalised or
    decoded ("disguised"), or nowhere (None)."""
    if _INSTRUCTION.search(text):
        return "plain"
    return "disguised" if any(_INSTRUCTION.search(view) for view in views(text)) else None


def instruction_like(text: str) -> bool:
    """Whether the text, as written, normalised or decoded (`decoding.views`), carries phrasing that addresses a
    model rather than a reader."""
    return _phrasing(text) is not None


def injection_findings(texts: list[str], model_scores: NDArray[np.float32] | None, threshold: float) -> list[Finding]:
    """`model_scores`: the injection model's probability per text, the highest over its views (`injection.py`)."""
    out: list[Finding] = []
    for i, text in enumerate(texts):
        model = float(model_scores[i]) if model_scores is not None else 0.0
        phrasing = _phrasing(text)
        pattern = 1.0 if phrasing else 0.0
        score = max(model, pattern)
        if score >= threshold:
            how = "injection model"
            if pattern >= model:
                how = "instruction-like phrasing" + (" once decoded" if phrasing == "disguised" else "")
            out.append(Finding(i, "injection", score, f"{how} (score {score:.2f})"))
    return out


def _contradicts(a: str, b: str) -> bool:
    numbers_differ = set(_NUMBER.findall(a)) != set(_NUMBER.findall(b))
    negation_differs = len(_NEGATION.findall(a)) % 2 != len(_NEGATION.findall(b)) % 2
    return numbers_differ or negation_differs


def _signature(sentence: str) -> str:
    """A sentence with numbers and negations masked: equal signatures, different sentences disagree."""
    masked = _NEGATION.sub(" ", _DO_NOT.sub(" ", _NUMBER.sub("#", sentence.lower())))
    return " ".join(re.findall(r"[\w#$%]+", masked))


def sentence_conflicts(texts: list[str], sources: list[str]) -> list[tuple[int, int]]:
    """Pairs of chunks (from different sources) holding sentences that differ only in numbers or negation."""
    by_signature: dict[str, list[tuple[int, str]]] = {}
    for i, text in enumerate(texts):
        for piece in split(text):
            sentence = " ".join(piece.text.split())
            signature = _signature(sentence)
            if signature.count(" ") >= MIN_SENTENCE_WORDS - 1:
                by_signature.setdefault(signature, []).append((i, sentence))
    pairs: set[tuple[int, int]] = set()
    for entries in by_signature.values():
        for a, (i, first) in enumerate(entries):
            for j, second in entries[a + 1 :]:
                if sources[i] != sources[j] and _contradicts(first, second):
                    pairs.add((min(i, j), max(i, j)))
    return sorted(pairs)


def contradiction_findings(
    texts: list[str], sources: list[str], vectors: NDArray[np.float32], duplicate: float, related: float
) -> list[Finding]:
    """Near-duplicate pairs from different documents that disagree on numbers or negation: both flagged."""
    found: dict[int, Finding] = {}
    for i, j in sentence_conflicts(texts, sources):
        if float(vectors[i] @ vectors[j]) < related:
            continue
        for me, other in ((i, j), (j, i)):
            found.setdefault(me, Finding(me, "contradiction", 1.0, f"a sentence contradicts {sources[other]}"))
    for start in range(0, len(texts), BLOCK):
        sims = vectors[start : start + BLOCK] @ vectors.T
        rows, cols = np.nonzero(sims >= duplicate)
        for r, j in zip(rows.tolist(), cols.tolist(), strict=True):
            i = start + r
            if j <= i or sources[i] == sources[j] or texts[i] == texts[j] or not _contradicts(texts[i], texts[j]):
                continue
            score = float(sims[r, j])
            for me, other in ((i, j), (j, i)):
                found.setdefault(me, Finding(me, "contradiction", score, f"contradicts {sources[other]}"))
    return sorted(found.values(), key=lambda f: f.index)


def outlier_findings(vectors: NDArray[np.float32], z_limit: float, min_chunks: int) -> list[Finding]:
    """Chunks far less similar to the corpus centroid than the rest."""
    if len(vectors) < min_chunks:
        return []
    centroid = vectors.mean(axis=0)
    centroid /= np.linalg.norm(centroid) or 1.0
    sims = vectors @ centroid
    spread = float(sims.std())
    if spread == 0:
        return []
    z = (sims - float(sims.mean())) / spread
    return [
        Finding(int(i), "outlier", float(-z[i]), f"{-z[i]:.1f} standard deviations from the corpus")
        for i in np.nonzero(z < -z_limit)[0]
    ]


def screen(
    texts: list[str],
    sources: list[str],
    vectors: NDArray[np.float32],
    injection_scores: NDArray[np.float32] | None,
    thresholds: Thresholds,
) -> dict[int, Finding]:
    """The first finding for each chunk that must be quarantined, by chunk index."""
    findings = [
        *injection_findings(texts, injection_scores, thresholds.injection),
        *contradiction_findings(texts, sources, vectors, thresholds.duplicate, thresholds.related),
        *outlier_findings(vectors, thresholds.outlier_z, thresholds.outlier_min_chunks),
    ]
    out: dict[int, Finding] = {}
    for finding in findings:
        out.setdefault(finding.index, finding)
    return out
