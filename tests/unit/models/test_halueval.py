"""HaluEval handling: the reserved rows stay out, splits are seeded, synthetic negatives change the claim."""

from __future__ import annotations

import json
import random
from pathlib import Path

from guardrail_models.halueval import (
    RESERVED_DIALOGUE_FROM,
    Item,
    evidence_quote,
    length_matched,
    negate,
    quoted_pair,
    read_rows,
    split,
    swap_entity,
    swap_number,
    synthetic_negative,
    system_prompt_evidence,
    user_turns,
)


def write_dialogue(folder: Path, rows: int) -> None:
    line = {"knowledge": "k", "dialogue_history": "h", "right_response": "r", "hallucinated_response": "x"}
    with (folder / "dataset_halueval_dialogue.jsonl").open("w") as handle:
        for index in range(rows):
            handle.write(json.dumps({**line, "knowledge": f"k{index}"}) + "\n")


def test_reserved_dialogue_rows_are_never_read(tmp_path: Path) -> None:
    write_dialogue(tmp_path, RESERVED_DIALOGUE_FROM + 5)
    items = list(read_rows("dialogue", tmp_path))
    assert len(items) == RESERVED_DIALOGUE_FROM
    assert max(item.row for item in items) == RESERVED_DIALOGUE_FROM - 1


def test_user_turns_parse_human_turns_and_skip_reserved_rows(tmp_path: Path) -> None:
    history = "[Human]: Do you like Iron Man? [Assistant]: Sure do! [Human]: Tell me more about him. "
    line = {"knowledge": "k", "dialogue_history": history, "right_response": "r", "hallucinated_response": "x"}
    with (tmp_path / "dataset_halueval_dialogue.jsonl").open("w") as handle:
        for _ in range(RESERVED_DIALOGUE_FROM + 3):
            handle.write(json.dumps(line) + "\n")
    assert user_turns("dialogue", range(2), tmp_path) == ["Do you like Iron Man?", "Tell me more about him."] * 2
    # asking for reserved rows gives nothing: they are never read
    assert user_turns("dialogue", range(RESERVED_DIALOGUE_FROM, RESERVED_DIALOGUE_FROM + 3), tmp_path) == []


def test_split_is_seeded_and_disjoint() -> None:
    items = [Item("qa", i, "e", "q?", "a", "b") for i in range(50)]
    train, dev = split(items, 10, seed=7)
    assert len(dev) == 10
    assert len(train) == 40
    assert {i.row for i in train}.isdisjoint({i.row for i in dev})
    assert split(items, 10, seed=7) == (train, dev)
    assert split(items, 10, seed=8)[1] != dev


def test_qa_claim_is_question_then_answer() -> None:
    item = Item("qa", 0, "Delhi is the head office.", "Where is the head office?", "Delhi", "Mumbai")
    assert item.claim(item.right) == "Where is the head office? Delhi"


def test_length_match_tolerance() -> None:
    assert length_matched("one two three four five", "one two three four")
    assert not length_matched("one", "one two three four five")


def test_negation_inserts_not_after_auxiliary() -> None:
    assert negate("The film was released in 1999") == "The film was not released in 1999"
    assert negate("Sounds good") is None


def test_number_swap_changes_the_number_only() -> None:
    swapped = swap_number("It was released in 1999 by them", random.Random(0))
    assert swapped is not None
    assert swapped != "It was released in 1999 by them"
    assert swapped.startswith("It was released in ")
    assert swapped.endswith(" by them")


def test_entity_swap_uses_an_entity_from_the_evidence() -> None:
    swapped = swap_entity(
        "Jake Gyllenhaal starred as well", "Zodiac is starring Jake Gyllenhaal and Robert", random.Random(0)
    )
    assert swapped is not None
    assert swapped.split(" starred")[0] in {"Zodiac", "Robert"}


def test_synthetic_negative_differs_from_the_right_answer() -> None:
    item = Item("dialogue", 0, "Iron Man stars Robert Downey.", "", "Robert Downey was in Iron Man in 2008", "x")
    made = synthetic_negative(item, random.Random(1))
    assert made is not None
    assert made != item.right


def test_system_prompt_evidence_is_short_seeded_and_sometimes_names_the_claims_entity() -> None:
    claim = "Zodiac stars Jake Gyllenhaal and was directed by David Fincher in 2007."
    first = [system_prompt_evidence(claim, random.Random(3)) for _ in range(2)]
    assert first[0] == first[1]
    rng = random.Random(5)
    prompts = [system_prompt_evidence(claim, rng) for _ in range(200)]
    assert all(len(p.split()) <= 16 for p in prompts)
    assert not any("2007" in p or "directed" in p for p in prompts)  # only a name may be shared, never the fact
    named = [p for p in prompts if any(e in p for e in ("Zodiac", "Jake Gyllenhaal", "David Fincher"))]
    assert 0.1 < len(named) / len(prompts) < 0.5


def test_evidence_quote_is_a_verbatim_sentence_of_the_evidence_including_glued_dialogue_facts() -> None:
    glued = (
        "Iron Man is starring Robert Downey Jr.Robert Downey Jr. starred in Zodiac with Jake Gyllenhaal"
        "Zodiac has genre Crime"
    )
    quotes = {evidence_quote(glued, random.Random(seed)) for seed in range(30)}
    assert None not in quotes
    assert all(q is not None and q in glued for q in quotes)
    assert "Zodiac has genre Crime" in quotes  # glued facts are split apart
    assert evidence_quote("Too short. Also.", random.Random(0)) is None


def test_quoted_pair_shares_the_quote_and_the_joint_and_differs_only_in_the_answer() -> None:
    evidence = "The museum stands in Leeds near the river. It closes on Mondays in winter."
    item = Item("qa", 0, evidence, "When did it open?", "1931", "1957")
    seen_orders = set()
    for seed in range(40):
        pair = quoted_pair(item, item.hallucinated, random.Random(seed))
        assert pair is not None
        supported, unsupported = pair
        assert supported.startswith("When did it open? ")
        assert supported.replace("1931", "1957") == unsupported  # same quote, same joint
        assert any(sentence in supported for sentence in ("The museum stands in Leeds near the river", "It closes"))
        seen_orders.add(supported.endswith("1931"))
    assert seen_orders == {True, False}  # the quote comes before and after the answer
    assert quoted_pair(Item("qa", 0, "Short.", "", "a", "b"), "b", random.Random(0)) is None
