"""Chunks are whole sentences within the size, overlapping, with ids that follow the content."""

from __future__ import annotations

import pytest

from guardrail_kb.chunking import Chunk, ChunkSettings, chunk_documents, chunk_text
from guardrail_kb.readers import Document

TEXT = (
    "Standard shipping takes 3 to 5 business days. Express shipping takes 1 to 2 days. "
    "Orders over $75 ship free. Oversized items ship by freight. Tracking numbers arrive by email."
)


def test_chunks_hold_whole_sentences_within_the_size() -> None:
    chunks = chunk_text(TEXT, ChunkSettings(size=90, overlap=0))
    assert all(len(c) <= 90 for c in chunks)
    assert all(c.endswith(".") for c in chunks)
    assert " ".join(chunks) == TEXT


def test_overlap_repeats_the_trailing_sentence() -> None:
    chunks = chunk_text(TEXT, ChunkSettings(size=90, overlap=40))
    assert chunks == [
        "Standard shipping takes 3 to 5 business days. Express shipping takes 1 to 2 days.",
        "Express shipping takes 1 to 2 days. Orders over $75 ship free.",
        "Orders over $75 ship free. Oversized items ship by freight.",
        "Oversized items ship by freight. Tracking numbers arrive by email.",
    ]


def test_a_sentence_longer_than_the_size_is_cut_at_words() -> None:
    long = "word " * 60
    chunks = chunk_text(long, ChunkSettings(size=50, overlap=0))
    assert all(len(c) <= 50 for c in chunks)
    assert " ".join(chunks).split() == long.split()


def test_ids_change_only_with_the_chunk() -> None:
    docs = [Document("a.md", TEXT), Document("b.md", "Returns within 60 days.")]
    before = chunk_documents(docs, ChunkSettings())
    after = chunk_documents([docs[0], Document("b.md", "Returns within 90 days.")], ChunkSettings())
    assert before[0].point_id == after[0].point_id
    assert before[1].point_id != after[1].point_id
    assert Chunk("a.md", 0, "x").evidence_id == "a.md#0"


@pytest.mark.parametrize(("size", "overlap"), [(10, 0), (100, 100), (100, -1)])
def test_bad_settings_are_refused(size: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="chunk"):
        ChunkSettings(size, overlap)
