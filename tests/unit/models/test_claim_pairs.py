"""Claim-level training pairs: one sentence of a right answer against its best passage, with wrong variants."""

from __future__ import annotations

import random

from guardrail_models.claim_pairs import best_passage, claim_pairs
from guardrail_models.halueval import Item

DOCUMENT = (
    "The Harbour Museum opened in 1931 in Leeds. It was founded by Ada Lovelace Trust. Entry is free. "
    "The museum moved to a new building in 1987. Its director is Maria Chen. It closes on Mondays. "
    "The collection holds 4,000 ship models. Most came from Hull shipyards. A cafe opened in 2004."
)
RIGHT = "The Harbour Museum opened in 1931 in Leeds. Its collection holds 4,000 ship models from Hull."
WRONG = "The Harbour Museum opened in 1931 in Leeds. Its collection holds 9,000 ship models from York."


def test_best_passage_is_the_one_sharing_most_words() -> None:
    passages = ["Ships and boats of Hull.", "The cafe opened in 2004 and serves tea.", "Nothing here."]
    assert best_passage("When did the cafe open?", passages) == passages[1]


def test_each_pair_is_a_sentence_of_the_right_answer_with_negatives_that_differ_from_it() -> None:
    item = Item("summarization", 0, DOCUMENT, "", RIGHT, WRONG)
    seen = set()
    for seed in range(20):
        made = claim_pairs(item, random.Random(seed))
        assert made is not None
        passage, sentence, negatives = made
        assert sentence in RIGHT
        assert passage in DOCUMENT
        assert negatives
        assert all(n != sentence for n in negatives)
        seen.add(sentence)
        if sentence.startswith("Its collection"):
            assert "holds 4,000" in passage  # the passage that supports it
            assert "Its collection holds 9,000 ship models from York." in negatives  # the hallucinated twin
    assert len(seen) == 2


def test_single_sentence_answers_are_left_to_whole_answer_training() -> None:
    item = Item("summarization", 0, DOCUMENT, "", "The museum opened in 1931.", "It opened in 1932.")
    assert claim_pairs(item, random.Random(0)) is None
