"""One ingestion: files → a new knowledge-base version, made live atomically, old versions collected.

Nothing is written when the computed version is already live. Otherwise the new version is built in its own
collection (vectors of unchanged chunks are copied from the live version, only new chunks are embedded; so are
their injection-model scores when the live version was screened the same way, only new chunks are read window
by window), its record is stored, and only then the alias moves: a reader of `name` sees the old version or the new one,
never a partial one. A failure before the switch leaves the live version untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .chunking import Chunk, ChunkSettings, chunk_documents
from .embedding import Embedder
from .errors import KnowledgeBaseError, UnreadableDocumentError
from .injection import InjectionModel
from .poisoning import SCREENING, Thresholds, screen
from .readers import Document, discover, read_file
from .store import KnowledgeBaseStore, StoredPoint
from .versions import Quarantined, VersionRecord, expired, version_hash

Progress = Callable[[str, int, int], None]  # (stage, done, total)
UPSERT_BATCH = 128
INJECTION_FIELD = "injection"  # payload: the injection model's score of a served chunk


@dataclass(frozen=True)
class Options:
    chunking: ChunkSettings = field(default_factory=ChunkSettings)
    thresholds: Thresholds = field(default_factory=Thresholds)
    retain: int = 3
    pinned: frozenset[str] = frozenset()


@dataclass
class Report:
    version: str
    previous: str | None
    documents: int
    chunks: int
    quarantined: int
    added: int = 0
    removed: int = 0
    embedded: int = 0
    screened: int = 0  # chunks the injection model read (the others' scores were copied from the live version)
    unchanged: bool = False
    errors: list[str] = field(default_factory=list)
    deleted_versions: list[str] = field(default_factory=list)
    record: VersionRecord | None = None


def _quiet(stage: str, done: int, total: int) -> None:
    return None


def read_all(paths: Iterable[Path]) -> tuple[list[Document], list[str]]:
    """Documents of every readable file, and one error line per file that is not (or repeats a source)."""
    documents: list[Document] = []
    errors: list[str] = []
    seen: set[str] = set()
    for source, file, folder in discover(paths):
        try:
            found = read_file(source, file, folder)
        except UnreadableDocumentError as exc:
            errors.append(str(exc))
            continue
        if any(doc.source in seen for doc in found):
            errors.append(f"{source}: a document with this source name was already read; rename one of them")
            continue
        seen.update(doc.source for doc in found)
        documents.extend(doc for doc in found if doc.text.strip())
    return documents, errors


def screening(injection: InjectionModel | None) -> str:
    """How chunks are screened, for the version: the checks (`poisoning.SCREENING`) and the injection model."""
    return f"{SCREENING}; injection model {injection.identity if injection else 'none'}"


def payload(chunk: Chunk, injection: float | None = None) -> dict[str, object]:
    """What the sidecar reads (`id`, `text`) plus provenance (source, position and content hash) and the injection
    model's score, when it ran (the next ingestion screened the same way copies it)."""
    out: dict[str, object] = {
        "id": chunk.evidence_id,
        "text": chunk.text,
        "source": chunk.source,
        "position": chunk.position,
        "hash": chunk.hash,
    }
    if injection is not None:
        out[INJECTION_FIELD] = injection
    return out


async def _vectors(
    known: dict[str, StoredPoint], chunks: list[Chunk], embedder: Embedder, progress: Progress
) -> tuple[NDArray[np.float32], int]:
    """A vector per chunk (copied from the live version's points `known` when the chunk is there, embedded
    otherwise) and the number embedded."""
    rows: list[NDArray[np.float32] | None] = [
        np.asarray(p.vector, dtype=np.float32) if (p := known.get(c.point_id)) else None for c in chunks
    ]
    missing = [i for i, row in enumerate(rows) if row is None]
    for start in range(0, len(missing), 64):
        batch = missing[start : start + 64]
        out = await embedder.embed([chunks[i].text for i in batch])
        for i, vec in zip(batch, out, strict=True):
            rows[i] = vec
        progress("embedding", min(start + 64, len(missing)), len(missing))
    dimension = len(next(iter(known.values())).vector) if known else 1
    stacked = np.stack([r for r in rows if r is not None]) if rows else np.zeros((0, dimension), np.float32)
    return stacked, len(missing)


async def _injection_scores(
    injection: InjectionModel,
    chunks: list[Chunk],
    known: dict[str, StoredPoint],
    embedder: Embedder,
    progress: Progress,
) -> tuple[NDArray[np.float32], int]:
    """The injection model's score per chunk, copied from `known` (the live version's points, when it was screened
    the same way, else empty) where it holds the chunk, read otherwise; and the number read."""
    scores = np.zeros(len(chunks), dtype=np.float32)
    todo: list[int] = []
    for i, chunk in enumerate(chunks):
        point = known.get(chunk.point_id)
        stored = point.payload.get(INJECTION_FIELD) if point else None
        if isinstance(stored, int | float):
            scores[i] = stored
        else:
            todo.append(i)
    if todo:
        scores[todo] = await injection.score_chunks(
            [chunks[i].text for i in todo], embedder.embed, lambda done, total: progress("screening", done, total)
        )
    return scores, len(todo)


async def ingest(
    store: KnowledgeBaseStore,
    embedder: Embedder,
    paths: list[Path],
    options: Options,
    injection: InjectionModel | None = None,
    now: datetime | None = None,
    progress: Progress = _quiet,
) -> Report:
    """Read `paths` and ingest what is readable (see `ingest_documents`)."""
    documents, errors = read_all(paths)
    return await ingest_documents(store, embedder, documents, options, errors, injection, now, progress)


async def ingest_documents(
    store: KnowledgeBaseStore,
    embedder: Embedder,
    documents: list[Document],
    options: Options,
    errors: list[str],
    injection: InjectionModel | None = None,
    now: datetime | None = None,
    progress: Progress = _quiet,
) -> Report:
    """Make `documents` the live version of the store's knowledge base; `errors` are carried into the report."""
    chunks = chunk_documents(documents, options.chunking)
    version = version_hash(chunks, options.chunking, options.thresholds, embedder.identity, screening(injection))
    live = await store.live_version()
    previous = await store.record(live) if live else None
    if live == version and previous is not None:
        return Report(
            version,
            live,
            len(documents),
            previous.chunks,
            previous.quarantined,
            unchanged=True,
            errors=errors,
            record=previous,
        )
    existing = await store.record(version)
    if existing is not None and version in await store.versions():
        await store.switch(version)  # the same content was ingested before: make it live again
        return Report(
            version,
            live,
            len(documents),
            existing.chunks,
            existing.quarantined,
            errors=errors,
            deleted_versions=await collect(store, options),
            record=existing,
        )
    known = await store.points(live) if live else {}
    vectors, embedded = await _vectors(known, chunks, embedder, progress)
    scores: NDArray[np.float32] | None = None
    screened = 0
    if injection is not None and chunks:
        same = previous is not None and previous.screening == screening(injection)
        scores, screened = await _injection_scores(injection, chunks, known if same else {}, embedder, progress)
    findings = screen([c.text for c in chunks], [c.source for c in chunks], vectors, scores, options.thresholds)
    served = [i for i in range(len(chunks)) if i not in findings]
    if not served:
        raise KnowledgeBaseError(
            f"nothing to serve: {len(documents)} documents gave {len(chunks)} chunks, {len(findings)} quarantined; "
            f"the live version ({live or 'none'}) is unchanged"
        )
    dimension = int(vectors.shape[1]) if len(chunks) else 1
    await store.create_version(version, dimension)
    for done in range(0, len(served), UPSERT_BATCH):
        batch = served[done : done + UPSERT_BATCH]
        await store.upsert(
            version,
            [chunks[i].point_id for i in batch],
            vectors[batch],
            [payload(chunks[i], None if scores is None else float(scores[i])) for i in batch],
        )
        progress("writing", min(done + UPSERT_BATCH, len(served)), len(served))
    quarantine = [
        Quarantined(chunks[i].source, chunks[i].position, f.check, round(f.score, 4), f.detail, chunks[i].text)
        for i, f in sorted(findings.items())
    ]
    record = VersionRecord(
        name=store.name,
        version=version,
        created_at=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
        documents=len(documents),
        chunks=len(served),
        quarantined=len(quarantine),
        embedding=embedder.identity,
        chunking={"size": options.chunking.size, "overlap": options.chunking.overlap},
        quarantine=quarantine,
        sequence=1 + max((r.sequence for r in await store.records()), default=0),
        screening=screening(injection),
    )
    await store.put_record(record)
    await store.switch(version)
    old_ids = set(known)
    new_ids = {chunks[i].point_id for i in served}
    return Report(
        version,
        live,
        len(documents),
        len(served),
        len(quarantine),
        added=len(new_ids - old_ids),
        removed=len(old_ids - new_ids),
        embedded=embedded,
        screened=screened,
        errors=errors,
        deleted_versions=await collect(store, options),
        record=record,
    )


async def collect(store: KnowledgeBaseStore, options: Options) -> list[str]:
    """Delete versions past the retention count, and collections of interrupted ingestions (no record)."""
    live = await store.live_version()
    records = await store.records()
    recorded = {r.version for r in records}
    doomed = expired(records, live, options.retain, options.pinned)
    doomed += sorted(v for v in await store.versions() if v not in recorded and v != live)
    for version in doomed:
        await store.delete_version(version)
    return doomed
