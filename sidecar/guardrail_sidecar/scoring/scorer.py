"""Model calls of the scoring contract (embeddings, NLI, injection) with tokenisation and caching."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from guardrail_contract import tensors
from guardrail_contract.durations import duration_seconds
from guardrail_contract.sidecar_config import Cache, Models
from guardrail_sidecar.errors import BackendError
from guardrail_sidecar.observability.metrics import Metrics
from guardrail_sidecar.scoring import claims
from guardrail_sidecar.scoring.backends import InferenceBackend
from guardrail_sidecar.scoring.cache import TTLCache
from guardrail_sidecar.scoring.decoding import views
from guardrail_sidecar.scoring.encoder import Encoder

INJECTION_RECHECK = 30.0  # seconds between checks whether the injection model is deployed
WINDOW_TOKENS = 64  # an injection window: one sentence, or this many tokens of a longer one
WINDOW_OVERLAP = 16  # tokens shared by neighbouring windows of a long sentence
WINDOW_MIN_WORDS = 3  # shorter fragments ("call_1", "A-1") join a neighbour: alone the detector flags them
MODEL_INFO = "model.json"  # written beside the model by the model build: `extra.truncation`


def _model_info(folder: Path) -> dict[str, object]:
    try:
        info = json.loads((folder / MODEL_INFO).read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _evidence_first(folder: Path) -> bool:
    """How the model was trained to truncate pairs: evidence first unless model.json says longest_first."""
    extra = _model_info(folder).get("extra")
    return not (isinstance(extra, dict) and extra.get("truncation") == "longest_first")


def _max_length(folder: Path, default: int) -> int:
    """The tokens the model reads (model.json `max_length`), at most `default` (the config's limit)."""
    value = _model_info(folder).get("max_length")
    return min(value, default) if isinstance(value, int) and value > 0 else default


class ScoringModels(Protocol):
    """What the pipeline needs from the models (a seam: tests substitute a deterministic fake)."""

    async def injection_available(self) -> bool: ...

    async def ready(self) -> bool: ...

    async def embed(self, texts: list[str]) -> NDArray[np.float32]: ...

    async def nli(self, pairs: list[tuple[str, str]]) -> list[float]: ...

    async def injection(self, texts: list[str]) -> list[float]: ...

    async def classify(self, name: str, version: str, texts: list[str]) -> list[float]: ...

    def windows(self, text: str, limit: int) -> list[str]:
        """`text` whole, cut into the pieces the injection model reads one at a time; more than `limit` of them
        may stop early (the caller only needs to know the budget was exceeded)."""
        ...


class Scorer:
    """`ScoringModels` over an inference backend, with the models' own tokenizers and bounded caches."""

    def __init__(
        self,
        backend: InferenceBackend,
        models: Models,
        cache: Cache,
        metrics: Metrics,
        revision: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend
        self._models = models
        root = Path(models.tokenizers)
        self._encoders: dict[str, Encoder] = {}
        self._classifiers: dict[tuple[str, str], Encoder] = {}  # spec.detectors' own models, loaded when first used
        # the injection model has a tokenizer when it is an encoder of its own; without one it is a head on the
        # embedding model's output
        for ref in (models.embedding, models.nli, models.injection):
            path = root / ref.name / ref.version / tensors.TOKENIZER_FILE
            if path.is_file():
                length = _max_length(path.parent, models.max_length) if ref is models.injection else models.max_length
                self._encoders[ref.name] = Encoder(path, length, _evidence_first(path.parent))
        ttl = duration_seconds(cache.ttl)
        self._embeddings: TTLCache[str, NDArray[np.float32]] = TTLCache(
            cache.max_entries, ttl, max_bytes=cache.max_bytes, sizeof=lambda k, v: sys.getsizeof(k) + v.nbytes
        )
        self._scores: TTLCache[tuple[str, str], float] = TTLCache(
            cache.max_entries, ttl, max_bytes=cache.max_bytes, sizeof=lambda k, _: sum(map(sys.getsizeof, k)) + 24
        )
        self._metrics = metrics
        self._revision = revision
        self._injection_checked: tuple[float, bool] | None = None  # (when, deployed)
        self._clock = clock

    def model_refs(self) -> list[tuple[str, str]]:
        """The models readiness requires (the injection model is optional)."""
        return [(r.name, r.version) for r in (self._models.embedding, self._models.nli) if r.name in self._encoders]

    async def injection_available(self) -> bool:
        """Whether the backend serves the injection model (asked again every INJECTION_RECHECK seconds)."""
        now = self._clock()
        if self._injection_checked is None or now - self._injection_checked[0] >= INJECTION_RECHECK:
            ref = self._models.injection
            self._injection_checked = (now, await self.backend.ready([(ref.name, ref.version)]))
        return self._injection_checked[1]

    async def ready(self) -> bool:
        """The backend serves every model we have a tokenizer for (embedding and NLI are required)."""
        required = {self._models.embedding.name, self._models.nli.name}
        return required <= set(self._encoders) and await self.backend.ready(self.model_refs())

    def _encoder(self, model: str) -> Encoder:
        encoder = self._encoders.get(model)
        if encoder is None:
            raise BackendError(self.backend.name, f"no {tensors.TOKENIZER_FILE} for model {model}")
        return encoder

    def _count(self, cache: str, hit: bool) -> None:
        self._metrics.cache.labels(self._revision, cache, "hit" if hit else "miss").inc()

    async def embed(self, texts: list[str]) -> NDArray[np.float32]:
        """L2-normalised embeddings, one row per text."""
        ref = self._models.embedding
        found = {t: v for t in dict.fromkeys(texts) if (v := self._embeddings.get(t)) is not None}
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        for t in texts:
            self._count("embedding", t in found)
        if missing:
            inputs = self._encoder(ref.name).encode(missing)
            out = await self.backend.infer(ref.name, ref.version, inputs, tensors.EMBEDDING_OUTPUT)
            for text, row in zip(missing, out, strict=True):
                self._embeddings.put(text, row)
                found[text] = row
        return np.stack([found[t] for t in texts]) if texts else np.zeros((0, 0), dtype=np.float32)

    async def nli(self, pairs: list[tuple[str, str]]) -> list[float]:
        """P(hypothesis supported by premise) for each (premise, hypothesis) pair."""
        ref = self._models.nli
        found = {p: s for p in dict.fromkeys(pairs) if (s := self._scores.get(p)) is not None}
        missing = [p for p in dict.fromkeys(pairs) if p not in found]
        for p in pairs:
            self._count("nli", p in found)
        if missing:
            # similar lengths side by side: less padding in what the Triton backend sends (the embedded backend and
            # Triton's python backend run each row alone, so a score depends neither on the order nor on the cache)
            missing.sort(key=lambda p: len(p[0]) + len(p[1]))
            inputs = self._encoder(ref.name).encode_pairs(missing)
            out = await self.backend.infer(ref.name, ref.version, inputs, tensors.SCORE_OUTPUT)
            for pair, score in zip(missing, out.reshape(-1), strict=True):
                self._scores.put(pair, float(score))
                found[pair] = float(score)
        return [found[p] for p in pairs]

    def windows(self, text: str, limit: int) -> list[str]:
        """Each sentence on its own, a long one in overlapping windows of WINDOW_TOKENS tokens of the injection
        model (of the embedding model when the injection model is a head on its embeddings).

        The detector was trained on short messages: an injected sentence inside 256 tokens of benign text
        scored below the threshold in 34 of 36 documents, on its own in none; fragments of fewer than
        WINDOW_MIN_WORDS words join their neighbour (docs/sidecar.md). An encoded instruction (base64, hex, rot13,
        percent-encoding, leetspeak, spaced letters: `decoding.views`) is read a second time, decoded."""
        encoder = self._encoders.get(self._models.injection.name) or self._encoder(self._models.embedding.name)
        out: list[str] = []
        for view in views(text):
            for sentence in claims.sentences(view, WINDOW_MIN_WORDS):
                out.extend(encoder.windows(sentence, WINDOW_TOKENS, WINDOW_OVERLAP))
                if len(out) > limit:
                    return out
        return out

    async def injection(self, texts: list[str]) -> list[float]:
        """P(prompt injection) for each text: an encoder of its own reading the texts' tokens, or a head on the
        (cached) embeddings of the texts. The injection model itself is asked on every request, as the head always
        was: with the backend down, a request fails as `onBackendError` says even when every other score is
        cached."""
        ref = self._models.injection
        encoder = self._encoders.get(ref.name)
        if encoder is None:
            vectors = (await self.embed(texts)).astype(np.float32)
            out = await self.backend.infer(
                ref.name, ref.version, {tensors.INJECTION_INPUT: vectors}, tensors.SCORE_OUTPUT
            )
            return [float(s) for s in out.reshape(-1)]
        unique = list(dict.fromkeys(texts))
        tokens = encoder.encode(unique)
        tokens.pop(tensors.TOKEN_TYPE_IDS, None)  # a single text: ids and mask
        out = await self.backend.infer(ref.name, ref.version, tokens, tensors.SCORE_OUTPUT)
        by_text = dict(zip(unique, (float(s) for s in out.reshape(-1)), strict=True))
        return [by_text[t] for t in texts]

    async def classify(self, name: str, version: str, texts: list[str]) -> list[float]:
        """P(positive) for each text by a user's classifier (`spec.detectors`, kind classifier): its own
        tokenizer from the tokenizer repository, its `score` output from the backend."""
        key = (name, version)
        if key not in self._classifiers:
            path = Path(self._models.tokenizers) / name / version / tensors.TOKENIZER_FILE
            try:
                self._classifiers[key] = Encoder(path, self._models.max_length, evidence_first=True)
            except Exception as exc:  # a missing or unreadable tokenizer.json: the tokenizers library's own errors
                raise BackendError(self.backend.name, f"classifier {name}: cannot read {path}: {exc}") from exc
        inputs = self._classifiers[key].encode(texts)
        inputs.pop(tensors.TOKEN_TYPE_IDS, None)  # a classifier reads single texts: ids and mask
        out = await self.backend.infer(name, version, inputs, tensors.SCORE_OUTPUT)
        return [float(s) for s in out.reshape(-1)]
