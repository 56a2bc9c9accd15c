"""The encoder's security-themed hard negatives: seeded, spread over their families, and never a held-back text."""

from __future__ import annotations

from guardrail_models.injection_data import override_injections
from guardrail_models.injection_fresh_benign import fresh_security_benign
from guardrail_models.injection_hard_negatives import _FAMILIES, _SLOTS, contrast_injections, security_hard_negatives
from guardrail_models.injection_third_benign import third_security_benign
from guardrail_models.injection_widen import _HELD_OUT, security_benign


def test_generators_are_seeded_and_give_distinct_texts() -> None:
    assert security_hard_negatives(200, 5) == security_hard_negatives(200, 5)
    assert security_hard_negatives(200, 5) != security_hard_negatives(200, 6)
    texts = security_hard_negatives(3000, 16)
    assert len(texts) == len(set(texts)) == 3000
    assert len(contrast_injections(600, 17, override_injections(100, 17))) == 600


def test_every_family_is_drawn() -> None:
    texts = security_hard_negatives(600, 16)
    for family, templates in _FAMILIES.items():
        openings = tuple(t.split("{")[0] for t in templates if t.split("{")[0])
        assert any(text.startswith(openings) for text in texts), family


def test_contrast_injections_open_benign_and_then_address_the_assistant() -> None:
    tails = override_injections(50, 3)
    for text in contrast_injections(200, 3, tails):
        assert any(tail in text for tail in tails) or any(
            word in text.lower()
            for word in (
                "ignore your",
                "forget every rule",
                "disregard your",
                "no restrictions",
                "override your",
                "stop following",
            )
        ), text


def test_training_tables_and_texts_share_nothing_with_the_held_back_sets() -> None:
    held_back = set(security_benign(400, 7, "held_out")) | set(fresh_security_benign()) | set(third_security_benign())
    assert not held_back & set(security_hard_negatives(3000, 16))
    held_slots = set(_HELD_OUT.things) | set(_HELD_OUT.topics)
    assert not held_slots & set(_SLOTS["thing"])
    assert not held_slots & set(_SLOTS["topic"])


def test_fresh_set_is_seeded_distinct_and_large_enough() -> None:
    texts = fresh_security_benign()
    assert texts == fresh_security_benign()
    assert len(texts) == len(set(texts)) >= 350


def test_third_set_is_seeded_distinct_and_large_enough() -> None:
    texts = third_security_benign()
    assert texts == third_security_benign()
    assert len(texts) == len(set(texts)) >= 380
