"""Generated injection data: seeded, labelled as meant, and the held-back sets disjoint from training."""

from __future__ import annotations

from guardrail_models.injection_widen import (
    _HELD_OUT,
    _TRAIN,
    benign_tool_outputs,
    indirect_pairs,
    kb_passages,
    multilingual_injections,
    obfuscated_injections,
    security_benign,
)
from guardrail_sidecar.scoring.decoding import views

PASSAGES = [
    "Paris is the capital of France. It has many museums. The Louvre is the largest.",
    "The warranty on electronics lasts two years. Keep your receipt.",
]


def test_tables_share_no_wrapper_tool_shape_frame_or_template() -> None:
    for field in ("wrappers", "tools", "encoded_frames", "about_security"):
        train, held_out = set(getattr(_TRAIN, field)), set(getattr(_HELD_OUT, field))
        assert not (train & held_out - {"{payload}"}), field
    train_sentences = {s for sentences in _TRAIN.languages.values() for s in sentences}
    held_sentences = {s for sentences in _HELD_OUT.languages.values() for s in sentences}
    assert not train_sentences & held_sentences
    assert {"pl", "sv", "tr"} <= set(_HELD_OUT.languages) - set(_TRAIN.languages)  # languages training never saw


def test_generated_sets_are_seeded_and_the_held_out_texts_never_occur_in_training() -> None:
    assert obfuscated_injections(50, 13) == obfuscated_injections(50, 13)
    train = set(obfuscated_injections(400, 13) + multilingual_injections(400, 13) + security_benign(400, 13))
    train |= set(benign_tool_outputs(400, 13)) | set(indirect_pairs(PASSAGES, 13).texts)
    held_out = set(obfuscated_injections(400, 7, "held_out") + multilingual_injections(200, 7, "held_out"))
    held_out |= set(security_benign(400, 7, "held_out")) | set(benign_tool_outputs(300, 7, "held_out"))
    assert not train & held_out


def test_indirect_pairs_plant_an_injection_beside_the_same_clean_text() -> None:
    pairs = indirect_pairs(PASSAGES, 13)
    assert pairs.labels == [1, 0, 1, 0] * len(PASSAGES)
    for planted, clean in zip(pairs.texts[0::4], pairs.texts[1::4], strict=True):
        assert clean in PASSAGES
        assert len(planted) > len(clean)
        assert all(sentence.strip(". ") in planted for sentence in clean.split(". "))


def test_every_obfuscated_injection_reads_as_an_override_once_decoded() -> None:
    for text in obfuscated_injections(80, 13):
        decoded = views(text)[-1].lower().replace(" ", "")
        assert any(
            word in decoded
            for word in (
                "ignore",
                "disregard",
                "forget",
                "override",
                "drop",
                "abandon",
                "stopfollowing",
                "stopbeing",
                "instructions",
                "rules",
                "prompt",
            )
        ), text


def test_example_knowledge_base_passages_are_read() -> None:
    passages = kb_passages()
    assert len(passages) >= 10
    assert all(len(p.split()) >= 3 for p in passages)
