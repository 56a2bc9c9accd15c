"""Claim splitting: whole sentences, pieces that rebuild the text exactly, streams split like whole text."""

from __future__ import annotations

import pytest

from guardrail_sidecar.scoring.claims import SentenceBuffer, claim_texts, claims, passages, split

ANSWER = (
    "Refunds take 5.5 days, e.g. for card payments. Dr. Smith approved it! "
    "Do you need more?\nShipping is free above 50 euros. Ok."
)


def test_sentences_respect_abbreviations_decimals_and_newlines() -> None:
    assert claims(ANSWER) == [
        "Refunds take 5.5 days, e.g. for card payments.",
        "Dr. Smith approved it!",
        "Shipping is free above 50 euros.",
        "Shipping is free above 50 euros. Ok.",  # a fragment is read after the sentence before it
    ]


def test_questions_and_leading_fragments_are_not_claims() -> None:
    assert claims("Sure! Would you like to know more? Yes.") == []


def test_a_fragment_after_a_sentence_is_checked_with_it_never_dropped() -> None:
    answer = "Refunds are paid within 14 days. 90 days. Hope that helps?"
    assert claims(answer) == ["Refunds are paid within 14 days.", "Refunds are paid within 14 days. 90 days."]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("No, the author of Scarlet is actually J.K. Rowling. She also wrote Winter.", "J.K. Rowling."),
        ("It is a novel written by H.G. Wells. It came out in 1895.", "H.G. Wells."),
        ("We ship to the U.S. and Canada.", "U.S. and Canada."),
    ],
)
def test_initials_do_not_end_a_sentence(text: str, name: str) -> None:
    assert claims(text)[0].endswith(name)


def test_pieces_concatenate_back_to_the_input() -> None:
    assert "".join(p.text for p in split(ANSWER)) == ANSWER


@pytest.mark.parametrize("step", [1, 3, 7, 50])
def test_streamed_deltas_split_like_the_whole_text(step: int) -> None:
    buffer = SentenceBuffer()
    pieces = []
    for i in range(0, len(ANSWER), step):
        pieces += buffer.feed(ANSWER[i : i + step])
    pieces += buffer.finish()
    assert "".join(p.text for p in pieces) == ANSWER
    assert claim_texts(pieces)[0] == claims(ANSWER)
    released, last = [], None  # piece by piece, as the streaming gate releases them
    for piece in pieces:
        found, last = claim_texts([piece], last)
        released += found
    assert released == claims(ANSWER)


def test_a_sentence_is_not_released_before_the_next_one_begins() -> None:
    buffer = SentenceBuffer()
    assert buffer.feed("The policy covers phones.") == []  # could still be "phones.com" or an abbreviation
    released = buffer.feed(" It")
    assert [p.text for p in released] == ["The policy covers phones."]


def test_passages_group_sentences() -> None:
    text = "One fact here. Two facts here. Three facts here. Four facts here."
    assert passages(text, sentences_per_passage=2) == [
        "One fact here. Two facts here.",
        "Three facts here. Four facts here.",
    ]
