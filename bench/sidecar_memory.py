"""Memory of a real sidecar process with embedded models, to size the injected container's memory limit.

Starts the fake LLM app (`tests/support/fake_llm.py`) and `python -m guardrail_sidecar` in front of it, with the
embedded models from `models/repository` and an embedded Qdrant knowledge base, then sends mixed traffic:
short and long questions (long ones fill the injection windows), grounded and ungrounded answers, JSON and SSE
streams, every request distinct so the caches fill. VmRSS is sampled every 0.25 s; VmHWM (the kernel's peak)
is read at the end. Each run is stored in bench/results/sidecar_memory.json under
`<backend>-c<concurrency>-big<N>` (other runs are kept). `--quick` for fewer requests; `--backend triton`
runs the models in a real `tritonserver` (CPU, the nvidia-pytriton wheel) instead, as injected sidecars do in
the cluster, where the sidecar itself only tokenizes.

The chart's `sidecar.resources` (and `SidecarSettings` in the operator) are set from this peak with headroom.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from guardrail_devcluster.cluster import free_port  # noqa: E402
from tests.support.processes import PYTHON, running  # noqa: E402

REPOSITORY = REPO / "models" / "repository"
RESULTS = REPO / "bench" / "results" / "sidecar_memory.json"
COLLECTION = "support-facts"
FACTS = [
    "Refunds are paid to the original payment method within 14 days after we receive the returned item.",
    "Shipping is free for orders above 50 euros; smaller orders pay a flat fee of 4.90 euros.",
    "Customer support is available Monday to Friday from 9:00 to 17:00 CET.",
    "Returns are accepted within 30 days of delivery if the item is unused.",
    "Gift cards cannot be exchanged for cash.",
    "The warranty on electronics lasts two years from the date of purchase.",
]
FILLER = "Please also tell me about the delivery options, the packaging, and whether the store is open today. "


def mib(kib: int) -> float:
    return round(kib / 1024, 1)


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


async def build_kb(path: Path) -> None:
    """The embedded Qdrant collection the sidecar retrieves from (embedded embedding model)."""
    from guardrail_contract.sidecar_config import SidecarConfig
    from guardrail_sidecar.observability.metrics import Metrics
    from guardrail_sidecar.revisions.served import ServedRevisions
    from guardrail_sidecar.scoring.knowledge import upsert_passages

    config = SidecarConfig.model_validate(sidecar_config(path, 1, 2, 3))
    revisions = ServedRevisions(config, Metrics())
    revisions.apply(config)
    pipeline = revisions.pick(None)
    kb = config.routing.stable.knowledge_base
    assert kb is not None
    client = revisions.qdrant(kb.qdrant)
    vectors = await pipeline.scorer.embed(FACTS)
    await upsert_passages(client, COLLECTION, [f"fact-{i}" for i in range(len(FACTS))], FACTS, vectors)
    await revisions.close()


def sidecar_config(kb: Path, upstream: int, listen: int, admin: int, triton_grpc: str = "") -> dict[str, Any]:
    models: dict[str, Any] = {"backend": "embedded", "embedded": {"repository": str(REPOSITORY)}}
    if triton_grpc:
        models = {
            "backend": "triton",
            "triton": {"url": triton_grpc, "protocol": "grpc", "timeout": "30s"},
            "tokenizerRepository": str(REPOSITORY),
        }
    return {
        "proxy": {"listenPort": listen, "listenHost": "127.0.0.1", "upstreamPort": upstream},
        "adminPort": admin,
        "routing": {
            "stable": {
                "revision": "memory",
                "policy": {"mode": "enforce", "onBackendError": "fail-closed"},
                "models": models,
                "knowledgeBase": {"qdrant": {"path": str(kb)}, "collection": COLLECTION, "topK": 4},
            }
        },
    }


def request(i: int, big_every: int) -> tuple[dict[str, Any], dict[str, str]]:
    """The i-th request: distinct text, every fourth long (every `big_every`-th ~50 kB: the injection check's
    whole window budget), every third streamed, answers alternating grounded/ungrounded, every fifth ~30 claims."""
    question = f"Question {i}: how do refunds work for order {i * 7919 % 100000}?"
    if big_every and i % big_every == 0:
        question += " " + FILLER * 500
    elif i % 4 == 0:
        question += " " + FILLER * (8 + i % 24)  # 1-3 kB: several injection windows
    answer = FACTS[i % len(FACTS)] if i % 2 else f"Our office {i} is on the moon and sells tickets for {i} euros."
    if i % 5 == 0:
        answer = " ".join(f"{FACTS[(i + k) % len(FACTS)]} Note {i}-{k} applies." for k in range(15))
    body = {"model": "fake", "stream": i % 3 == 0, "messages": [{"role": "user", "content": question}]}
    return body, {"x-fake-answer": quote(answer)}


async def traffic(url: str, total: int, concurrency: int, big_every: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)
    async with httpx.AsyncClient(timeout=60) as client:

        async def worker() -> None:
            while not queue.empty():
                body, headers = request(queue.get_nowait(), big_every)
                response = await client.post(f"{url}/v1/chat/completions", json=body, headers=headers)
                counts[str(response.status_code)] = counts.get(str(response.status_code), 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 requests instead of 2000")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--big-every", type=int, default=10, help="every N-th question is ~50 kB (0: none)")
    parser.add_argument("--backend", choices=["embedded", "triton"], default="embedded", help="where models run")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON result goes")
    args = parser.parse_args()
    total = 300 if args.quick else 2000
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        asyncio.run(build_kb(tmp / "kb"))
        app, listen, admin = free_port(), free_port(), free_port()
        config = tmp / "sidecar.yaml"
        servers = contextlib.ExitStack()
        grpc = ""
        if args.backend == "triton":
            from tests.support.triton import triton_server

            grpc = servers.enter_context(triton_server(tmp, REPOSITORY)).spec.ports.grpc_url
        config.write_text(yaml.safe_dump(sidecar_config(tmp / "kb", app, listen, admin, grpc)))
        app_cmd = [PYTHON, str(REPO / "tests" / "support" / "fake_llm.py"), "--port", str(app)]
        sidecar_cmd = [PYTHON, "-m", "guardrail_sidecar", "--config", str(config)]
        with (
            servers,
            running(app_cmd, f"http://127.0.0.1:{app}/_seen", tmp / "app.log"),
            running(sidecar_cmd, f"http://127.0.0.1:{admin}/readyz", tmp / "sidecar.log", timeout=120) as proc,
        ):
            ready_kib = status_kib(proc.pid, "VmRSS")
            samples: list[int] = []
            done = threading.Event()

            def sample() -> None:
                while not done.is_set():
                    samples.append(status_kib(proc.pid, "VmRSS"))
                    time.sleep(0.25)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            started = time.monotonic()
            counts = asyncio.run(traffic(f"http://127.0.0.1:{listen}", total, args.concurrency, args.big_every))
            seconds = time.monotonic() - started
            done.set()
            sampler.join()
            peak_kib, end_kib = status_kib(proc.pid, "VmHWM"), status_kib(proc.pid, "VmRSS")
    result = {
        "requests": total,
        "backend": args.backend,
        "concurrency": args.concurrency,
        "big_question_every": args.big_every,
        "status_counts": counts,
        "seconds": round(seconds, 1),
        "rss_mib_ready": mib(ready_kib),
        "rss_mib_max_sampled": mib(max(samples, default=0)),
        "rss_mib_peak_vmhwm": mib(peak_kib),
        "rss_mib_end": mib(end_kib),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "command": " ".join(sys.argv),
    }
    runs = json.loads(args.out.read_text()) if args.out.exists() else {}
    runs[f"{args.backend}-c{args.concurrency}-big{args.big_every}"] = result
    args.out.write_text(json.dumps(dict(sorted(runs.items())), indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
