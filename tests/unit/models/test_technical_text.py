"""The injection encoder's benign technical negatives: seeded, bounded, and from more than one source."""

from __future__ import annotations

from guardrail_models.technical_text import generated_messages, stdlib_snippets, technical_benign


def test_the_same_seed_gives_the_same_texts_and_another_seed_others() -> None:
    first = technical_benign(300, seed=5)
    assert first == technical_benign(300, seed=5)
    assert first != technical_benign(300, seed=6)
    assert len(first) == len(set(first)) == 300


def test_every_text_is_short_enough_to_be_one_window_and_has_words() -> None:
    for text in technical_benign(300, seed=5):
        assert 10 <= len(text) <= 240  # a comment's bound is checked with its leading '# '
        assert any(c.isalpha() for c in text)


def test_code_docstrings_and_generated_messages_all_take_part() -> None:
    snippets = stdlib_snippets(limit_files=20)
    assert any("def " in s or "return" in s for s in snippets)  # code
    assert any(s[:1].isupper() and " " in s and "(" not in s[:10] for s in snippets)  # prose: docstrings, comments
    messages = generated_messages(100, seed=1)
    assert len(messages) == 100
    assert any(m.startswith(("KeyError", "ValueError", "ZeroDivisionError", "TypeError")) for m in messages)
