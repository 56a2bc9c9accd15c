"""Sentence-aware chunking: documents → chunks of whole sentences, with a sentence overlap. Pure.

Sentences come from the sidecar's own splitter (`guardrail_sidecar.scoring.claims`), so what is stored is cut the
way answers are. A chunk holds whole sentences up to `size` characters; the next chunk repeats the trailing
sentences of the previous one that fit in `overlap` characters. A single sentence longer than `size` is cut
at word boundaries. A chunk's point id is derived from its source, position and content, so re-ingesting
an unchanged document gives the same ids.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from guardrail_sidecar.scoring.claims import split

from .readers import Document

ID_NAMESPACE = uuid.UUID("6f1c2a5e-3b7d-4e2a-9c1f-0d8e4b6a7c21")


@dataclass(frozen=True)
class ChunkSettings:
    size: int = 600
    overlap: int = 120

    def __post_init__(self) -> None:
        if self.size < 50:
            raise ValueError(f"chunk size {self.size} is too small: use at least 50 characters")
        if not 0 <= self.overlap < self.size:
            raise ValueError(f"chunk overlap {self.overlap} must be at least 0 and below the size {self.size}")


@dataclass(frozen=True)
class Chunk:
    source: str
    position: int
    text: str

    @property
    def hash(self) -> str:
        return content_hash(self.text)

    @property
    def evidence_id(self) -> str:
        """The id the sidecar cites: `<source>#<position>`."""
        return f"{self.source}#{self.position}"

    @property
    def point_id(self) -> str:
        return str(uuid.uuid5(ID_NAMESPACE, f"{self.source}\n{self.position}\n{self.hash}"))


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _words(sentence: str, size: int) -> list[str]:
    """A sentence longer than `size` cut into pieces at word boundaries."""
    pieces: list[str] = []
    current = ""
    for word in sentence.split():
        while len(word) > size:  # a "word" longer than a chunk (a URL, a hash): cut it
            if current:
                pieces.append(current)
                current = ""
            pieces.append(word[:size])
            word = word[size:]
        candidate = f"{current} {word}" if current else word
        if len(candidate) > size:
            pieces.append(current)
            current = word
        else:
            current = candidate
    if current:
        pieces.append(current)
    return pieces


def sentences(text: str, size: int) -> list[str]:
    """The sentences of `text`, whitespace collapsed, none longer than `size`."""
    out: list[str] = []
    for piece in split(text):
        sentence = " ".join(piece.text.split())
        if sentence:
            out.extend(_words(sentence, size) if len(sentence) > size else [sentence])
    return out


def chunk_text(text: str, settings: ChunkSettings) -> list[str]:
    """Whole sentences packed into chunks of at most `size` characters, overlapping by up to `overlap`."""
    chunks: list[str] = []
    current: list[str] = []
    fresh = 0  # sentences in `current` not yet emitted in an earlier chunk
    for sentence in sentences(text, settings.size):
        if current and len(" ".join([*current, sentence])) > settings.size:
            chunks.append(" ".join(current))
            carried: list[str] = []
            for previous in reversed(current):
                if len(" ".join([previous, *carried, sentence])) > min(settings.overlap + len(sentence), settings.size):
                    break
                carried.insert(0, previous)
            current, fresh = carried, 0
        current.append(sentence)
        fresh += 1
    if current and fresh:
        chunks.append(" ".join(current))
    return chunks


def chunk_documents(documents: list[Document], settings: ChunkSettings) -> list[Chunk]:
    """Every document's chunks, in document order, numbered from 0 within each document."""
    return [
        Chunk(doc.source, position, text)
        for doc in documents
        for position, text in enumerate(chunk_text(doc.text, settings))
    ]
