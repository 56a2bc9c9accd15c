"""Content-addressed knowledge-base versions and their retention. Pure.

A version is the hash of everything that decides what is served: every chunk (source, position, content),
the chunking settings, the poisoning thresholds, how chunks are screened (`poisoning.SCREENING` and the injection
model) and the embedding model. It lives in the physical collection
`<name>-<version>`; the alias `<name>` points at the live one. Each version has a record (documents, chunks,
quarantined chunks, when it was made) in the registry collection `<name>__kb_versions`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from guardrail_contract.names import KB_VERSION_LENGTH, versioned_collection

from .chunking import Chunk, ChunkSettings
from .poisoning import Thresholds

VERSION_LENGTH = KB_VERSION_LENGTH
MAX_LISTED_QUARANTINE = 1000
REGISTRY_SUFFIX = "__kb_versions"


def version_hash(
    chunks: list[Chunk], settings: ChunkSettings, thresholds: Thresholds, embedding: str, screening: str
) -> str:
    """The version of a knowledge base: equal inputs give the same version, any change another. `screening` names
    how chunks are screened (the screening and the injection model: `ingest.screening`), so a change there
    re-screens an unchanged corpus once (its vectors are copied, not embedded again)."""
    digest = hashlib.sha256()
    header = {
        "chunking": asdict(settings),
        "poisoning": asdict(thresholds),
        "screening": screening,
        "embedding": embedding,
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    for chunk in sorted(chunks, key=lambda c: (c.source, c.position)):
        digest.update(f"\n{chunk.source}\t{chunk.position}\t{chunk.hash}".encode())
    return digest.hexdigest()[:VERSION_LENGTH]


def physical_name(name: str, version: str) -> str:
    return versioned_collection(name, version)


def registry_name(name: str) -> str:
    return f"{name}{REGISTRY_SUFFIX}"


def version_of(name: str, collection: str) -> str | None:
    """The version a physical collection of `name` holds, or None for any other collection."""
    match = re.fullmatch(rf"{re.escape(name)}-([0-9a-f]{{{VERSION_LENGTH}}})", collection)
    return match.group(1) if match else None


@dataclass(frozen=True)
class Quarantined:
    source: str
    position: int
    check: str
    score: float
    detail: str
    text: str


@dataclass(frozen=True)
class VersionRecord:
    name: str
    version: str
    created_at: str
    documents: int
    chunks: int
    quarantined: int
    embedding: str
    chunking: dict[str, int]
    quarantine: list[Quarantined] = field(default_factory=list)
    sequence: int = 0  # 1 + the highest of the store's records when made: orders versions, unlike clocks
    screening: str = ""  # how its chunks were screened (`ingest.screening`); "" in records made before it was kept

    def to_payload(self) -> dict[str, Any]:
        data = asdict(self)
        data["quarantine"] = data["quarantine"][:MAX_LISTED_QUARANTINE]
        return data

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> VersionRecord:
        items = [Quarantined(**q) for q in data.get("quarantine", [])]
        return cls(**{**data, "quarantine": items})

    def summary(self) -> dict[str, Any]:
        """What the operator reports in status (small enough for a termination message)."""
        return {
            "collection": self.name,
            "version": self.version,
            "documents": self.documents,
            "chunks": self.chunks,
            "quarantined": self.quarantined,
            "ingestedAt": self.created_at,
        }


def expired(records: list[VersionRecord], live: str | None, retain: int, pinned: frozenset[str]) -> list[str]:
    """Versions to delete: all but the `retain` newest (the live one and pinned ones always kept)."""
    newest = sorted(records, key=lambda r: (r.sequence, r.created_at), reverse=True)
    kept = {r.version for r in newest[:retain]} | pinned | ({live} if live else set())
    return [r.version for r in newest if r.version not in kept]
