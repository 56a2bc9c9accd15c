"""Generated short benign chat turns for training the injection head."""

from __future__ import annotations

from guardrail_models.injection_data import SHORT_BENIGN_PROMPTS, short_chat_turns


def test_short_chat_turns_are_seeded_and_short() -> None:
    turns = short_chat_turns(500, seed=13)
    assert len(turns) == 500
    assert turns == short_chat_turns(500, seed=13)
    assert turns != short_chat_turns(500, seed=14)
    assert max(len(t.split()) for t in turns) <= 14
    assert len(set(turns)) > 250  # varied, not one message repeated


def test_short_chat_turns_never_include_the_held_out_requests() -> None:
    held_out = {prompt.lower() for prompt in SHORT_BENIGN_PROMPTS}
    assert not held_out & {turn.lower() for turn in short_chat_turns(3000, seed=13)}
