"""Versions are content-addressed; retention keeps the newest, the live and the pinned ones."""

from __future__ import annotations

from guardrail_kb.chunking import Chunk, ChunkSettings
from guardrail_kb.poisoning import Thresholds
from guardrail_kb.versions import VersionRecord, expired, physical_name, version_hash, version_of

CHUNKS = [Chunk("a.md", 0, "Shipping is free."), Chunk("b.md", 0, "Returns take 60 days.")]


def _hash(
    chunks: list[Chunk],
    settings: ChunkSettings | None = None,
    embedding: str = "onnx:1",
    screening: str = "2; injection model injection:abc",
    thresholds: Thresholds | None = None,
) -> str:
    return version_hash(chunks, settings or ChunkSettings(), thresholds or Thresholds(), embedding, screening)


def test_the_version_follows_the_content_not_the_order() -> None:
    assert _hash(CHUNKS) == _hash(list(reversed(CHUNKS)))
    assert _hash(CHUNKS) != _hash([CHUNKS[0], Chunk("b.md", 0, "Returns take 90 days.")])
    assert _hash(CHUNKS) != _hash(CHUNKS, ChunkSettings(size=300))
    assert _hash(CHUNKS) != _hash(CHUNKS, embedding="onnx:2")
    assert _hash(CHUNKS) != _hash(CHUNKS, thresholds=Thresholds(injection=0.5))


def test_a_change_of_screening_makes_another_version() -> None:
    """Another injection model, or another way of reading chunks: the same corpus is screened again."""
    assert _hash(CHUNKS) != _hash(CHUNKS, screening="2; injection model injection:def")
    assert _hash(CHUNKS) != _hash(CHUNKS, screening="3; injection model injection:abc")
    assert _hash(CHUNKS) != _hash(CHUNKS, screening="2; injection model none")


def test_physical_names_round_trip_and_reject_other_collections() -> None:
    version = _hash(CHUNKS)
    assert version_of("shop", physical_name("shop", version)) == version
    assert version_of("shop", f"shop-faq-{version}") is None
    assert version_of("shop", "shop__kb_versions") is None


def _record(version: str, sequence: int) -> VersionRecord:
    created = "2026-11-22T10:00:00+00:00"  # all in the same second: the sequence orders them
    return VersionRecord("shop", version, created, 1, 1, 0, "onnx:1", {}, sequence=sequence)


def test_retention_keeps_newest_live_and_pinned() -> None:
    records = [_record(f"{i:010x}", i) for i in (4, 1, 6, 2, 5, 3)]  # 6 is the newest
    doomed = expired(records, live="0000000001", retain=2, pinned=frozenset({"0000000003"}))
    assert doomed == ["0000000004", "0000000002"]


def test_records_round_trip_through_a_payload() -> None:
    record = _record("0000000001", 1)
    assert VersionRecord.from_payload(record.to_payload()) == record
