"""Lexical grounding features computed inside the NLI graph from the token tensors (training environment only).

For each claim token that carries content (not a stop word, punctuation or special token): is the same token id
anywhere in the evidence? The share of supported content tokens and the count of unsupported ones are strong,
length-robust signals of hallucinated detail (new names, numbers, places); the encoder's logit handles meaning.
A tiny fusion layer (fitted after training) combines the three, so the exported graph still takes only tokens.
"""

from __future__ import annotations

from typing import Any

import torch  # type: ignore[import-not-found, unused-ignore]  # training venv only

_STOP_TEXT = """
a about above after again against all am an and any are as at be because been before being below between both but
by can could did do does doing down during each few for from further had has have having he her here hers herself
him himself his how i if in into is it its itself just me more most my myself no nor not now of off on once only
or other our ours out over own same she should so some such than that the their theirs them then there these they
this those through to too under until up very was we were what when where which while who whom why will with
would you your yours yourself yes yeah oh well also like really think know sure one s t don didn isn wasn ll ve re
m d
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())


def stop_table(vocab: dict[str, int]) -> Any:
    """A bool vector over the vocabulary: True for tokens that carry no content."""
    table = torch.zeros(max(vocab.values()) + 1, dtype=torch.bool)
    for token, index in vocab.items():
        bare = token.removeprefix("##")
        if token.startswith("[") or bare in STOP_WORDS or not any(ch.isalnum() for ch in bare):
            table[index] = True
    return table


class LexicalOverlap(torch.nn.Module):  # type: ignore[misc]  # torch is untyped here
    """(share of claim content tokens found in the evidence, log1p(count of those not found)) per pair."""

    def __init__(self, vocab: dict[str, int]) -> None:
        super().__init__()
        self.register_buffer("stop", stop_table(vocab))

    def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
        mask = attention_mask.to(torch.bool)
        claim = mask & token_type_ids.to(torch.bool) & ~self.stop[input_ids]
        evidence = mask & ~token_type_ids.to(torch.bool)
        same = input_ids.unsqueeze(2) == input_ids.unsqueeze(1)  # [batch, claim pos, evidence pos]
        found = (same & evidence.unsqueeze(1)).any(dim=2) & claim
        content = claim.sum(dim=1).to(torch.float32)
        supported = found.sum(dim=1).to(torch.float32)
        share = supported / content.clamp(min=1.0)
        return torch.stack([share, torch.log1p(content - supported)], dim=1)


class Fused(torch.nn.Module):  # type: ignore[misc]
    """The exported NLI graph: sigmoid(w · [encoder logit, overlap share, log1p(unsupported)] + b)."""

    def __init__(self, encoder: Any, lexical: LexicalOverlap, weights: list[float], bias: float) -> None:
        super().__init__()
        self.encoder = encoder
        self.lexical = lexical
        self.register_buffer("weights", torch.tensor(weights, dtype=torch.float32))
        self.register_buffer("bias", torch.tensor(bias, dtype=torch.float32))

    def features(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
        logit = self.encoder(input_ids, attention_mask, token_type_ids).unsqueeze(1)
        return torch.cat([logit, self.lexical(input_ids, attention_mask, token_type_ids)], dim=1)

    def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
        features = self.features(input_ids, attention_mask, token_type_ids)
        return torch.sigmoid((features * self.weights).sum(dim=1) + self.bias)  # no MatMul: kept out of INT8
