"""Portable snapshots of one knowledge-base version: a gzipped JSON-lines file, restorable into any Qdrant.

Qdrant's own snapshots are server-only (local mode has none), so a snapshot here is the version record on
the first line and one point (id, vector, payload) per following line. It is written to a temporary file and
renamed, so a snapshot file is always complete. Restoring recreates the version's collection and record and
makes it live: the same search results as when the snapshot was taken.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import SnapshotError, VersionNotFoundError
from .store import KnowledgeBaseStore
from .versions import VersionRecord

FORMAT = "guardrail-kb-snapshot/1"
BATCH = 256


async def create(store: KnowledgeBaseStore, target: Path, version: str | None = None) -> VersionRecord:
    """Write `version` (default: the live one) of the store's knowledge base to `target`."""
    version = version or await store.live_version()
    if version is None:
        raise VersionNotFoundError(f"{store.name} has no live version to snapshot: ingest first")
    record = await store.record(version)
    if record is None or version not in await store.versions():
        raise VersionNotFoundError(f"{store.name} has no version {version}; see `guardrail kb stats`")
    points = await store.points(version)
    tmp = target.with_name(target.name + ".partial")
    try:
        with gzip.open(tmp, "wt", encoding="utf-8") as out:
            out.write(json.dumps({"format": FORMAT, "record": record.to_payload()}) + "\n")
            for pid in sorted(points):
                p = points[pid]
                out.write(json.dumps({"id": p.id, "vector": p.vector, "payload": p.payload}) + "\n")
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SnapshotError(f"cannot write snapshot {target}: {exc}") from exc
    return record


def _lines(source: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    try:
        with gzip.open(source, "rt", encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle if line.strip()]
    except (OSError, EOFError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SnapshotError(f"{source} is not a readable knowledge-base snapshot: {exc}") from exc
    if not rows or rows[0].get("format") != FORMAT:
        raise SnapshotError(f"{source} is not a {FORMAT} file")
    return rows[0], rows[1:]


async def restore(store: KnowledgeBaseStore, source: Path, live: bool = True) -> VersionRecord:
    """Load a snapshot as a version of the store's knowledge base, and make it live unless `live` is False."""
    header, points = _lines(source)
    record = VersionRecord.from_payload({**header["record"], "name": store.name})
    if len(points) != record.chunks:
        raise SnapshotError(f"{source} is truncated: {len(points)} points, the record says {record.chunks}")
    if record.version not in await store.versions() or await store.record(record.version) is None:
        dimension = len(points[0]["vector"]) if points else 1
        await store.create_version(record.version, dimension)
        for start in range(0, len(points), BATCH):
            batch = points[start : start + BATCH]
            vectors = np.asarray([p["vector"] for p in batch], dtype=np.float32)
            await store.upsert(record.version, [p["id"] for p in batch], vectors, [p["payload"] for p in batch])
        await store.put_record(record)
    if live:
        await store.switch(record.version)
    return record
