"""The knowledge base's exceptions: one hierarchy, third-party errors translated at the boundary."""

from __future__ import annotations


class KnowledgeBaseError(Exception):
    """Base of every knowledge-base error; the message names what failed and how to fix it."""


class UnreadableDocumentError(KnowledgeBaseError):
    """A source file cannot be read or parsed; ingestion skips it and reports it."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class StoreError(KnowledgeBaseError):
    """Qdrant refused or failed an operation (unreachable, locked folder, wrong collection type)."""


class VersionNotFoundError(KnowledgeBaseError):
    """A named knowledge-base version does not exist in the store."""


class SnapshotError(KnowledgeBaseError):
    """A snapshot file is missing, unreadable or does not match the store."""


class EmbeddingError(KnowledgeBaseError):
    """The embedding model could not be loaded or failed on a batch."""
