"""Client-side tokenisation: texts (or text pairs) to the INT64 token tensors of the scoring contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from tokenizers import Encoding, Tokenizer

from guardrail_contract import tensors

Tensors = dict[str, NDArray[np.int64]]
MAX_CLAIM_CHARS = 1000


class Encoder:
    """Wraps a model's own `tokenizer.json`: truncates to `max_length`, pads each batch to its longest row."""

    def __init__(self, tokenizer_file: str | Path, max_length: int, evidence_first: bool = True) -> None:
        """`evidence_first`: truncate the evidence of a pair before the claim (else the longer of the two),
        as the model was trained (`extra.truncation` in its model.json)."""
        self._tok = Tokenizer.from_file(str(tokenizer_file))
        self._max_length = max_length
        self._pair_strategy = "only_first" if evidence_first else "longest_first"
        self._tok.enable_truncation(max_length)
        pad_id = self._tok.token_to_id("[PAD]")
        if pad_id is None:
            pad_id = self._tok.token_to_id("<pad>") or 0
        padding = self._tok.padding
        if padding is not None:
            pad_id = int(padding.get("pad_id", pad_id))
        self._tok.no_padding()
        self._pad_id = pad_id

    def encode(self, texts: list[str]) -> Tensors:
        return self._tensors(self._tok.encode_batch(texts))

    def windows(self, text: str, size: int, overlap: int) -> list[str]:
        """`text` whole, as consecutive spans of at most `size` tokens (special tokens included, and never more
        than the model reads), neighbours sharing `overlap` tokens so nothing is cut where no window sees it."""
        self._tok.enable_truncation(min(size, self._max_length), stride=overlap)
        try:
            first = self._tok.encode(text)
        finally:
            self._tok.enable_truncation(self._max_length)
        out = []
        for enc in [first, *first.overflowing]:
            spans = [o for o, special in zip(enc.offsets, enc.special_tokens_mask, strict=True) if not special]
            if spans:
                out.append(text[spans[0][0] : spans[-1][1]])
        return out

    def encode_pairs(self, pairs: list[tuple[str, str]]) -> Tensors:
        """(evidence, claim) pairs as one cross-encoder input each, truncated as the model was trained."""
        self._tok.enable_truncation(self._max_length, strategy=self._pair_strategy)
        try:
            clipped = [(e, c[:MAX_CLAIM_CHARS]) for e, c in pairs]
            return self._tensors(self._tok.encode_batch(clipped))
        except Exception:  # a claim longer than max_length alone: fall back to trimming both
            self._tok.enable_truncation(self._max_length, strategy="longest_first")
            return self._tensors(self._tok.encode_batch(pairs))
        finally:
            self._tok.enable_truncation(self._max_length)

    def _tensors(self, encodings: list[Encoding]) -> Tensors:
        width = max((len(e.ids) for e in encodings), default=1)
        shape = (len(encodings), width)
        ids = np.full(shape, self._pad_id, dtype=np.int64)
        mask = np.zeros(shape, dtype=np.int64)
        types = np.zeros(shape, dtype=np.int64)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            mask[row, :n] = enc.attention_mask
            types[row, :n] = enc.type_ids
        return {tensors.INPUT_IDS: ids, tensors.ATTENTION_MASK: mask, tensors.TOKEN_TYPE_IDS: types}
