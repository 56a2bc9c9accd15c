"""Real NVIDIA Triton (2.51.0, python backend on the CPU) vs the embedded scorer, in one run, interleaved.

Both score through the sidecar's own `Scorer` (its tokenisers, no cache), so the difference is the backend:
- per pair: NLI calls of 1 and of 16 dev-set pairs (latency per call and per pair);
- per answer: the sidecar pipeline on a 3-sentence answer (claims, embeddings, retrieval from an embedded
  Qdrant, NLI), as `bench/sidecar_scoring.py` measures it;
- 16 concurrent clients, each sending single-pair NLI calls: latency and pairs/s, and the average batch Triton's
  dynamic batcher formed (`nv_inference_count / nv_inference_exec_count` from its metrics, over the phase).
Triton runs in several variants (VARIANTS: the defaults, one instance, queue delay 2000 us, ragged batches) to
choose the launcher's defaults by measurement. onnxruntime uses one intra-op thread per session on both sides.

Writes bench/results/triton_vs_embedded.json (with the ratios Triton/embedded); `--quick` for a short run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.sidecar_scoring import build_kb, models_section, per_answer  # noqa: E402
from guardrail_contract.sidecar_config import Cache, Models  # noqa: E402
from guardrail_contract.sidecar_config import EmbeddedBackend as EmbeddedConfig  # noqa: E402
from guardrail_contract.sidecar_config import TritonBackend as TritonConfig  # noqa: E402
from guardrail_models.evalset import read_jsonl  # noqa: E402 - after sys.path
from guardrail_models.python_backend import CpuServing  # noqa: E402
from guardrail_sidecar.observability.metrics import Metrics  # noqa: E402
from guardrail_sidecar.scoring.backends.embedded import EmbeddedBackend  # noqa: E402
from guardrail_sidecar.scoring.backends.triton import TritonBackend  # noqa: E402
from guardrail_sidecar.scoring.scorer import Scorer  # noqa: E402
from guardrail_triton.install import SERVER_VERSION  # noqa: E402
from tests.support.triton import triton_server  # noqa: E402

REPOSITORY = REPO / "models" / "repository"
DEV_SET = REPO / "models" / "eval" / "halueval_dev.jsonl"
RESULTS = REPO / "bench" / "results" / "triton_vs_embedded.json"
# Triton variants, to choose the launcher's defaults by measurement: the defaults against one instance, queue
# delay 2000 us (the production flavour's) and ragged batches (token inputs of different lengths share a batch).
VARIANTS = {
    "triton": CpuServing(),  # the launcher's defaults: delay 0, two instances, no ragged batches
    "triton_1instance": CpuServing(instances=1),
    "triton_delay2000us": CpuServing(max_queue_delay_us=2000),
    "triton_ragged": CpuServing(ragged=True),
}
CONCURRENCY = 16
Pair = tuple[str, str]


def summary(ms: list[float], per: int = 1) -> dict[str, float]:
    ordered = sorted(ms)
    return {
        "n": len(ms),
        "p50_ms": round(ordered[len(ordered) // 2], 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
        "mean_ms": round(statistics.fmean(ms), 2),
        "p50_ms_per_pair": round(ordered[len(ordered) // 2] / per, 3),
    }


def scorer(kind: str, url: str = "") -> Scorer:
    if kind == "embedded":
        models = Models(backend="embedded", embedded=EmbeddedConfig(repository=str(REPOSITORY), threads=1))
        return Scorer(EmbeddedBackend(REPOSITORY, threads=1), models, Cache(max_entries=0), Metrics(), kind)
    config = TritonConfig(url=url, protocol="grpc", timeout="60s", retries=0)
    models = Models(backend="triton", triton=config, tokenizer_repository=str(REPOSITORY))
    return Scorer(TritonBackend(config), models, Cache(max_entries=0), Metrics(), kind)


async def timed_calls(score: Scorer, batches: list[list[Pair]]) -> list[float]:
    ms = []
    for batch in batches:
        started = time.perf_counter()
        await score.nli(batch)
        ms.append((time.perf_counter() - started) * 1000)
    return ms


async def concurrent(score: Scorer, pairs: list[Pair], clients: int) -> tuple[list[float], float]:
    """`clients` tasks, each sending its share of `pairs` one pair per call; (latencies, pairs per second)."""
    ms: list[float] = []
    shares = [pairs[i::clients] for i in range(clients)]

    async def client(share: list[Pair]) -> None:
        for pair in share:
            started = time.perf_counter()
            await score.nli([pair])
            ms.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(client(s) for s in shares))
    return ms, len(pairs) / (time.perf_counter() - started)


def batch_counters(metrics_url: str, model: str = "nli") -> tuple[float, float]:
    """(inferences, executions) of a model so far, from Triton's metrics port."""
    text = httpx.get(metrics_url, timeout=10).text

    def value(name: str) -> float:
        found = re.search(rf'^{name}{{model="{model}",version="1"}} ([0-9.e+]+)$', text, re.MULTILINE)
        return float(found.group(1)) if found else 0.0

    return value("nv_inference_count"), value("nv_inference_exec_count")


async def one_round(
    name: str, url: str, pairs: list[Pair], n: int, kb: Path, metrics_url: str | None, rng: random.Random
) -> dict[str, Any]:
    """One round of every phase against one target."""
    s = scorer("embedded" if name == "embedded" else "triton", url)
    await s.nli(pairs[:16])  # warm-up: sessions, channels
    b1 = await timed_calls(s, [[p] for p in rng.sample(pairs, n)])
    b16 = await timed_calls(s, [rng.sample(pairs, 16) for _ in range(max(2, n // 4))])
    before = batch_counters(metrics_url) if metrics_url else (0.0, 0.0)
    conc, per_s = await concurrent(s, rng.sample(pairs, min(len(pairs), CONCURRENCY * max(2, n // 4))), CONCURRENCY)
    after = batch_counters(metrics_url) if metrics_url else (0.0, 0.0)
    await s.backend.close()
    kind = "embedded" if name == "embedded" else "triton-grpc"
    answer = await per_answer(models_section(kind, url), kb, max(5, n // 3))
    return {
        "b1": b1,
        "b16": b16,
        "conc": conc,
        "rate": per_s,
        "batch": (after[0] - before[0], after[1] - before[1]),
        "answer_p50": answer["p50_ms"],
    }


def measure(
    targets: dict[str, str], pairs: list[Pair], n: int, rounds: int, kb: Path, metrics: dict[str, str]
) -> dict[str, Any]:
    """Every phase for every target, interleaved round by round so load changes hit all of them alike."""
    rounds_of: dict[str, list[dict[str, Any]]] = {k: [] for k in targets}
    rng = random.Random(3)
    for round_ in range(rounds):
        for name in list(targets) if round_ % 2 == 0 else list(reversed(targets)):
            kb_copy = kb.parent / f"kb-{name}-{round_}"
            shutil.copytree(kb, kb_copy)  # embedded Qdrant: one client per folder
            result = asyncio.run(one_round(name, targets[name], pairs, n, kb_copy, metrics.get(name), rng))
            rounds_of[name].append(result)
            print(f"round {round_ + 1}/{rounds} {name}: batch-1 p50 {summary(result['b1'])['p50_ms']} ms", flush=True)
    out: dict[str, Any] = {}
    for name, parts in rounds_of.items():
        inferences, executions = (sum(p["batch"][i] for p in parts) for i in (0, 1))
        concurrent16: dict[str, Any] = {
            **summary([ms for p in parts for ms in p["conc"]]),
            "pairs_per_s": round(statistics.fmean(p["rate"] for p in parts), 1),
        }
        if executions:
            concurrent16["avg_batch_size"] = round(inferences / executions, 2)
        out[name] = {
            "pair_batch1": summary([ms for p in parts for ms in p["b1"]]),
            "pair_batch16": summary([ms for p in parts for ms in p["b16"]], per=16),
            "answer_p50_ms": round(statistics.median(p["answer_p50"] for p in parts), 2),
            "concurrent16": concurrent16,
        }
    return out


def ratios(results: dict[str, Any], base: str = "embedded") -> dict[str, dict[str, float]]:
    """Triton / embedded for each latency (below 1: Triton faster) and for throughput (above 1: Triton faster)."""
    out = {}
    b = results[base]
    for name, r in results.items():
        if name == base:
            continue
        out[f"{name}/{base}"] = {
            "pair_batch1_p50": round(r["pair_batch1"]["p50_ms"] / b["pair_batch1"]["p50_ms"], 2),
            "pair_batch16_p50_per_pair": round(
                r["pair_batch16"]["p50_ms_per_pair"] / b["pair_batch16"]["p50_ms_per_pair"], 2
            ),
            "answer_p50": round(r["answer_p50_ms"] / b["answer_p50_ms"], 2),
            "concurrent16_p50": round(r["concurrent16"]["p50_ms"] / b["concurrent16"]["p50_ms"], 2),
            "concurrent16_pairs_per_s": round(r["concurrent16"]["pairs_per_s"] / b["concurrent16"]["pairs_per_s"], 2),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n, rounds = (12, 2) if args.quick else (40, 3)
    if not (REPOSITORY / "nli" / "1" / "model.onnx").is_file():
        print("triton_vs_embedded: models not built yet under models/repository; skipped")
        return
    pairs = read_jsonl(DEV_SET, 200).pairs
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        kb = tmp / "kb"
        asyncio.run(build_kb(kb))
        targets = {"embedded": ""}
        metrics: dict[str, str] = {}
        with contextlib.ExitStack() as servers:
            for name, serving in VARIANTS.items():
                server = servers.enter_context(triton_server(tmp, serving=serving))
                targets[name] = server.spec.ports.grpc_url
                metrics[name] = server.spec.ports.metrics_url
            results = measure(targets, pairs, n, rounds, kb, metrics)
    report = {
        "results": results,
        "ratios": ratios(results),
        "meta": {
            "triton": f"tritonserver {SERVER_VERSION} (nvidia-pytriton 0.7.0), python backend, KIND_CPU, 1 instance",
            "embedded": "guardrail_sidecar EmbeddedBackend (onnxruntime in process, 1 intra-op thread)",
            "variants": {name: asdict(serving) for name, serving in VARIANTS.items()},
            "pairs": "HaluEval dev set, first 200 (evidence, claim) pairs; answers: 3 sentences, topK 3",
            "rounds": rounds,
            "cpus": os.cpu_count(),
            "load_1m_start": load_start,
            "load_1m_end": os.getloadavg()[0],
            "gpu": "none: no GPU in this session, so the production flavour (ONNX Runtime backend on a GPU) is not "
            "measured here",
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["results"], indent=1))
    print(json.dumps(report["ratios"], indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
