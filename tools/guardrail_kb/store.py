"""Qdrant I/O of a knowledge base: versions as physical collections, the alias, the version registry.

Works the same on an embedded (local-mode) folder and on a Qdrant server. Local mode locks its folder: one
process at a time, so ingest into an embedded folder while no sidecar holds it, or use a server.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from qdrant_client import AsyncQdrantClient, models

from .errors import StoreError
from .versions import VERSION_LENGTH, VersionRecord, physical_name, registry_name, version_of

PAGE = 256
NAME_PATTERN = r"[a-z0-9][a-z0-9_-]*"
MAX_NAME = 63 - 1 - VERSION_LENGTH
_RECORD_NAMESPACE = uuid.UUID("0b6f5d0e-8f7a-4a59-b1a3-2c9e7d4f6a10")


@dataclass(frozen=True)
class StoredPoint:
    id: str
    vector: list[float]
    payload: dict[str, Any]


def check_name(name: str) -> str:
    """`name` if the sidecar can search it as a collection once `-<version>` is appended; else StoreError."""
    if not re.fullmatch(NAME_PATTERN, name) or len(name) > MAX_NAME:
        raise StoreError(
            f"knowledge base name {name!r}: use lowercase letters, digits, - and _ (at most {MAX_NAME} "
            "characters, so that <name>-<version> still fits the sidecar's 63)"
        )
    return name


def connect(path: str | None = None, url: str | None = None, api_key_env: str | None = None) -> AsyncQdrantClient:
    """A client for an embedded folder (`path`) or a server (`url`, API key read from `api_key_env`)."""
    if (path is None) == (url is None):
        raise StoreError("name exactly one Qdrant: an embedded folder (--qdrant-path) or a server (--qdrant-url)")
    if path is not None:
        try:
            return AsyncQdrantClient(path=path)
        except RuntimeError as exc:  # local mode's folder lock
            raise StoreError(f"{path} is in use by another process (a running sidecar?): {exc}") from exc
    api_key = os.environ.get(api_key_env) if api_key_env else None
    if api_key_env and not api_key:
        raise StoreError(f"environment variable {api_key_env} (the Qdrant API key) is not set")
    return AsyncQdrantClient(url=url, api_key=api_key, timeout=30)


class KnowledgeBaseStore:
    """One knowledge base `name` in one Qdrant; every method translates Qdrant errors into StoreError."""

    def __init__(self, client: AsyncQdrantClient, name: str) -> None:
        self.client = client
        self.name = check_name(name)

    async def collections(self) -> set[str]:
        try:
            return {c.name for c in (await self.client.get_collections()).collections}
        except Exception as exc:  # transport- and mode-specific errors
            raise StoreError(f"cannot list collections: {exc}") from exc

    async def live_version(self) -> str | None:
        """The version the alias points at; StoreError if `name` is a plain collection, not an alias."""
        try:
            aliases = (await self.client.get_aliases()).aliases
        except Exception as exc:
            raise StoreError(f"cannot read aliases: {exc}") from exc
        for alias in aliases:
            if alias.alias_name == self.name:
                return version_of(self.name, alias.collection_name)
        if self.name in await self.collections():
            raise StoreError(
                f"{self.name} is a plain collection, not a knowledge-base alias: ingest under another name "
                f"or delete it first"
            )
        return None

    async def versions(self) -> set[str]:
        return {v for c in await self.collections() if (v := version_of(self.name, c)) is not None}

    async def records(self) -> list[VersionRecord]:
        registry = registry_name(self.name)
        if registry not in await self.collections():
            return []
        out: list[VersionRecord] = []
        async for point in self._scroll(registry, with_vectors=False):
            out.append(VersionRecord.from_payload(point.payload))
        return out

    async def record(self, version: str) -> VersionRecord | None:
        return next((r for r in await self.records() if r.version == version), None)

    async def points(self, version: str) -> dict[str, StoredPoint]:
        """Every point of a version, with its vector, by point id."""
        return {p.id: p async for p in self._scroll(physical_name(self.name, version), with_vectors=True)}

    async def _scroll(self, collection: str, with_vectors: bool) -> AsyncIterator[StoredPoint]:
        offset: Any = None
        while True:
            try:
                batch, offset = await self.client.scroll(
                    collection, limit=PAGE, offset=offset, with_payload=True, with_vectors=with_vectors
                )
            except Exception as exc:
                raise StoreError(f"cannot read {collection}: {exc}") from exc
            for p in batch:
                vector = p.vector if isinstance(p.vector, list) else []  # one unnamed dense vector per point
                yield StoredPoint(
                    str(p.id), [float(x) for x in vector if isinstance(x, float | int)], dict(p.payload or {})
                )
            if offset is None:
                return

    async def create_version(self, version: str, dimension: int) -> None:
        """An empty physical collection for `version`; a leftover of an interrupted ingestion is replaced."""
        collection = physical_name(self.name, version)
        try:
            if await self.client.collection_exists(collection):
                await self.client.delete_collection(collection)
            await self.client.create_collection(
                collection, vectors_config=models.VectorParams(size=dimension, distance=models.Distance.COSINE)
            )
        except Exception as exc:
            raise StoreError(f"cannot create {collection}: {exc}") from exc

    async def upsert(
        self, version: str, ids: Sequence[str], vectors: NDArray[np.float32], payloads: Sequence[dict[str, Any]]
    ) -> None:
        collection = physical_name(self.name, version)
        points = [
            models.PointStruct(id=pid, vector=vec.tolist(), payload=payload)
            for pid, vec, payload in zip(ids, vectors, payloads, strict=True)
        ]
        try:
            await self.client.upsert(collection, points=points, wait=True)
        except Exception as exc:
            raise StoreError(f"cannot write to {collection}: {exc}") from exc

    async def put_record(self, record: VersionRecord) -> None:
        registry = registry_name(self.name)
        point = models.PointStruct(
            id=str(uuid.uuid5(_RECORD_NAMESPACE, record.version)), vector=[1.0], payload=record.to_payload()
        )
        try:
            if not await self.client.collection_exists(registry):
                await self.client.create_collection(
                    registry, vectors_config=models.VectorParams(size=1, distance=models.Distance.DOT)
                )
            await self.client.upsert(registry, points=[point], wait=True)
        except Exception as exc:
            raise StoreError(f"cannot write the version record to {registry}: {exc}") from exc

    async def switch(self, version: str) -> None:
        """Point the alias at `version` in one request: readers see the old or the new version, never neither."""
        target = physical_name(self.name, version)
        operations: list[Any] = [
            models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=target, alias_name=self.name))
        ]
        if await self.live_version() is not None:
            operations.insert(0, models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=self.name)))
        try:
            await self.client.update_collection_aliases(change_aliases_operations=operations)
        except Exception as exc:
            raise StoreError(f"cannot point {self.name} at {target}: {exc}") from exc

    async def delete_version(self, version: str) -> None:
        """Drop a version's collection and record; never the live one."""
        if version == await self.live_version():
            raise StoreError(f"version {version} is live: switch {self.name} to another version first")
        try:
            await self.client.delete_collection(physical_name(self.name, version))
            registry = registry_name(self.name)
            if await self.client.collection_exists(registry):
                selector = models.PointIdsList(points=[str(uuid.uuid5(_RECORD_NAMESPACE, version))])
                await self.client.delete(registry, points_selector=selector, wait=True)
        except Exception as exc:
            raise StoreError(f"cannot delete version {version}: {exc}") from exc
