"""Streamed redaction equals whole-text redaction at every split, and holds back no more than a match needs."""

from __future__ import annotations

import codecs
import random

import pytest

from guardrail_sidecar.detectors import PiiDetector, StreamRedactor
from support.pii_samples import EXAMPLES, PRIVATE_KEY, sentence

DETECTOR = PiiDetector()


def stream_bytes(data: bytes, cuts: list[int]) -> str:
    """`data` sent in pieces cut at `cuts` (byte offsets, so inside multi-byte characters too), decoded as it
    arrives, redacted as a stream."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    redactor = StreamRedactor(DETECTOR)
    out = []
    for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True):
        out.append(redactor.feed(decoder.decode(data[a:b])))
    out.append(redactor.feed(decoder.decode(b"", final=True)))
    out.append(redactor.finish())
    return "".join(out)


@pytest.mark.parametrize(("entity", "kind", "value"), EXAMPLES, ids=[f"{k}:{v[:20]}" for _, k, v in EXAMPLES])
def test_every_byte_split_gives_the_whole_text_redaction(entity: str, kind: str, value: str) -> None:
    text = sentence(value)
    data = text.encode()
    expected = DETECTOR.redact(text).text
    assert value not in expected
    for cut in range(len(data) + 1):
        assert stream_bytes(data, [cut]) == expected, f"split at byte {cut}"


def test_random_multi_way_splits_of_a_text_with_everything() -> None:
    text = " ".join(sentence(v) for _, _, v in EXAMPLES)
    data = text.encode()
    expected = DETECTOR.redact(text).text
    assert not any(v in expected for _, _, v in EXAMPLES)
    rng = random.Random(21)
    for _ in range(40):
        cuts = sorted(rng.sample(range(1, len(data)), rng.randint(2, 60)))
        assert stream_bytes(data, cuts) == expected


def test_byte_by_byte() -> None:
    text = " ".join(sentence(v) for _, _, v in EXAMPLES[:12])
    data = text.encode()
    assert stream_bytes(data, list(range(1, len(data)))) == DETECTOR.redact(text).text


def test_prose_is_held_back_by_one_word_at_most() -> None:
    redactor = StreamRedactor(DETECTOR)
    sent = redactor.feed("The refund was sent on Monday and should arrive")
    assert sent == "The refund was sent on Monday and should "
    assert redactor.held == "arrive"
    assert redactor.feed(" soon. Thanks") == "arrive soon. "
    assert redactor.finish() == "Thanks"


def test_a_number_is_held_until_it_cannot_grow_into_pii() -> None:
    redactor = StreamRedactor(DETECTOR)
    assert redactor.feed("Card 4111 1111") == "Card"
    assert redactor.feed(" 1111 1111") == ""
    assert redactor.feed(", thanks") == " [PAYMENT_CARD], "
    assert redactor.counts == {"payment_card": 1}


def test_a_private_key_block_is_held_until_its_footer() -> None:
    redactor = StreamRedactor(DETECTOR)
    head, rest = PRIVATE_KEY[:40], PRIVATE_KEY[40:]
    assert redactor.feed("here: " + head) == "here: "
    assert redactor.feed(rest[:-5]) == ""
    assert redactor.feed(rest[-5:] + "\nDone. ") == "[SECRET]\nDone"
    assert redactor.held == ". "  # spaces and dots may still be part of a phone number


def test_dashes_that_may_start_a_key_header_are_held_then_released() -> None:
    redactor = StreamRedactor(DETECTOR)
    assert redactor.feed("a rule -----BEG") == "a rule "
    assert redactor.feed("INNING of text.") == "-----BEGINNING of "
