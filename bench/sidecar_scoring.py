"""Scoring latency per answer (embedded onnxruntime vs real Triton over gRPC and HTTP), then the sidecar
process end to end: scored requests through the sidecar vs straight to the app, throughput and RSS.

Uses the project's models under models/repository and an embedded Qdrant knowledge base. Caches are off so
every answer is scored from scratch. Writes bench/results/sidecar_scoring.json; `--quick` for a short run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from guardrail_contract.sidecar_config import SidecarConfig  # noqa: E402
from guardrail_devcluster.cluster import free_port  # noqa: E402 - after sys.path
from guardrail_sidecar.observability.metrics import Metrics  # noqa: E402
from guardrail_sidecar.revisions.served import ServedRevisions  # noqa: E402
from guardrail_sidecar.scored_path.protocols import parse_openai_request  # noqa: E402
from guardrail_sidecar.scoring.knowledge import upsert_passages  # noqa: E402
from tests.support.facts import FACTS  # noqa: E402
from tests.support.processes import running  # noqa: E402
from tests.support.triton import triton_server  # noqa: E402

REPOSITORY = REPO / "models" / "repository"
RESULTS = REPO / "bench" / "results" / "sidecar_scoring.json"
TEMPLATES = [
    "Refunds are paid within {n} days after we receive the item.",
    "Shipping is free for orders above {n} euros.",
    "Returns are accepted within {n} days of delivery.",
    "The warranty on electronics lasts {n} years.",
]
REQUEST = parse_openai_request({"messages": [{"role": "user", "content": "How do refunds and shipping work?"}]})


def answer(rng: random.Random) -> str:
    """Three sentences, fresh numbers each time (nothing cached)."""
    return " ".join(t.format(n=rng.randint(2, 99)) for t in rng.sample(TEMPLATES, 3))


def models_section(kind: str, url: str = "") -> dict[str, Any]:
    if kind == "embedded":
        return {"backend": "embedded", "embedded": {"repository": str(REPOSITORY)}}
    protocol = "grpc" if kind == "triton-grpc" else "http"
    return {"backend": "triton", "triton": {"url": url, "protocol": protocol}, "tokenizerRepository": str(REPOSITORY)}


def config(
    models: dict[str, Any], kb: Path, upstream: int = 8080, listen: int = 8000, admin: int = 9901
) -> dict[str, Any]:
    return {
        "proxy": {"listenPort": listen, "listenHost": "127.0.0.1", "upstreamPort": upstream},
        "adminPort": admin,
        "logLevel": "warning",
        "routing": {
            "stable": {
                "revision": "bench",
                "policy": {"promptInjection": {"enabled": False}},
                "models": models,
                "cache": {"maxEntries": 0},
                "knowledgeBase": {"qdrant": {"path": str(kb)}, "collection": "facts", "topK": 3},
            }
        },
    }


def summary(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {
        "n": len(ms),
        "p50_ms": round(ordered[len(ordered) // 2], 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


async def build_kb(kb: Path) -> None:
    cfg = SidecarConfig.model_validate(config(models_section("embedded"), kb))
    revisions = ServedRevisions(cfg, Metrics())
    revisions.apply(cfg)
    pipeline = revisions.pick(None)
    client = revisions.qdrant(cfg.routing.stable.knowledge_base.qdrant)  # type: ignore[union-attr]  # set above
    await upsert_passages(
        client, "facts", list(FACTS), list(FACTS.values()), await pipeline.scorer.embed(list(FACTS.values()))
    )
    await revisions.close()


async def per_answer(models: dict[str, Any], kb: Path, n: int) -> dict[str, float]:
    cfg = SidecarConfig.model_validate(config(models, kb))
    revisions = ServedRevisions(cfg, Metrics())
    revisions.apply(cfg)
    pipeline = revisions.pick(None)
    rng = random.Random(7)
    await pipeline.assess(answer(rng), REQUEST)  # warm-up: sessions, connections
    ms = []
    for _ in range(n):
        text = answer(rng)
        started = time.perf_counter()
        await pipeline.assess(text, REQUEST)
        ms.append((time.perf_counter() - started) * 1000)
    await revisions.close()
    return summary(ms)


async def end_to_end(url: str, n: int, concurrency: int) -> dict[str, Any]:
    rng = random.Random(11)
    body = {"model": "fake", "messages": [{"role": "user", "content": "How do refunds and shipping work?"}]}
    ms: list[float] = []
    verdicts: dict[str, int] = {}
    async with aiohttp.ClientSession() as session:

        async def one() -> None:
            started = time.perf_counter()
            async with session.post(url, json=body, headers={"x-fake-answer": quote(answer(rng))}) as r:
                await r.read()
                verdict = r.headers.get("x-guardrail-verdict", "none")
                verdicts[verdict] = verdicts.get(verdict, 0) + 1
            ms.append((time.perf_counter() - started) * 1000)

        await one()
        ms.clear()
        verdicts.clear()
        started = time.perf_counter()
        queue = list(range(n))

        async def worker() -> None:
            while queue:
                queue.pop()
                await one()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {**summary(ms), "answers_per_s": round(n / elapsed, 1), "concurrency": concurrency, "verdicts": verdicts}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 20 if args.quick else 60
    if not (REPOSITORY / "nli" / "1" / "model.onnx").is_file():
        print("sidecar_scoring: models not built yet under models/repository; skipped")
        return
    py = sys.executable
    results: dict[str, Any] = {
        "per_answer": {},
        "meta": {
            "answer": "3 sentences, topK 3, caches off",
            "cpus": os.cpu_count(),
            "load_1m_start": os.getloadavg()[0],
        },
    }
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        kb = tmp / "kb"
        asyncio.run(build_kb(kb))
        ports = {k: free_port() for k in ("app", "sidecar", "admin")}
        app = [py, str(REPO / "tests" / "support" / "fake_llm.py"), "--port", str(ports["app"])]
        with (
            triton_server(tmp) as triton,
            running(app, f"http://127.0.0.1:{ports['app']}/_seen", tmp / "app.log"),
        ):
            grpc_url, http_url = triton.spec.ports.grpc_url, triton.spec.ports.http_url
            for kind, url in (("embedded", ""), ("triton-grpc", grpc_url), ("triton-http", http_url)):
                kb_copy = tmp / f"kb-{kind}"
                shutil.copytree(kb, kb_copy)  # embedded Qdrant: one client per folder
                results["per_answer"][kind] = asyncio.run(per_answer(models_section(kind, url), kb_copy, n))
                print(f"per answer {kind:11s} {results['per_answer'][kind]}", flush=True)
            cfg_path = tmp / "sidecar.yaml"
            cfg = config(
                models_section("triton-grpc", grpc_url),
                tmp / "kb-embedded",
                ports["app"],
                ports["sidecar"],
                ports["admin"],
            )
            cfg_path.write_text(yaml.safe_dump(cfg))
            sidecar = [py, "-m", "guardrail_sidecar", "--config", str(cfg_path)]
            with running(sidecar, f"http://127.0.0.1:{ports['admin']}/readyz", tmp / "sidecar.log") as proc:
                results["rss_mib_idle"] = rss_mib(proc.pid)
                direct = asyncio.run(end_to_end(f"http://127.0.0.1:{ports['app']}/v1/chat/completions", n, 4))
                proxied = asyncio.run(end_to_end(f"http://127.0.0.1:{ports['sidecar']}/v1/chat/completions", n, 4))
                results["end_to_end"] = {"direct": direct, "sidecar_triton_grpc": proxied}
                results["rss_mib_after_load"] = rss_mib(proc.pid)
                print(f"end to end direct {direct}\nend to end sidecar {proxied}", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
