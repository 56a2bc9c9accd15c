"""What tracing costs the sidecar: the same requests through two identical sidecars, one exporting every
span to a real OpenTelemetry Collector (OTLP/HTTP, batch processor, always sampled), one with tracing off,
sent alternately (so both see the same machine load), the client timing each request end to end.

The app answers with a grounded sentence and an ungrounded one (`tests/integration/tracing/traced_app.py`):
JSON answers are blocked, streams are cut after the first sentence; the scoring caches are warm after the first
request, so the model work per request is small and the tracing share is close to its worst case.
Writes bench/results/tracing_overhead.json. `--quick`: fewer requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from guardrail_devcluster.cluster import free_port  # noqa: E402 - after sys.path
from guardrail_otel.collector import Collector  # noqa: E402
from tests.support.facts import load_facts  # noqa: E402
from tests.support.processes import stop, wait_http  # noqa: E402

REPOSITORY = REPO / "models" / "repository"
RESULTS = REPO / "bench" / "results" / "tracing_overhead.json"
APP = REPO / "tests" / "integration" / "tracing" / "traced_app.py"


def sidecar_config(kb: Path, upstream: int, listen: int, admin: int) -> dict[str, Any]:
    return {
        "proxy": {"listenPort": listen, "listenHost": "127.0.0.1", "upstreamPort": upstream},
        "adminPort": admin,
        "logLevel": "warning",
        "routing": {
            "stable": {
                "revision": "bench",
                "policy": {"mode": "enforce", "onBackendError": "fail-closed", "streaming": {"holdBackSentences": 1}},
                "models": {"backend": "embedded", "embedded": {"repository": str(REPOSITORY)}},
                "knowledgeBase": {"qdrant": {"path": str(kb)}, "collection": "facts", "topK": 3},
            }
        },
    }


def start_sidecar(
    tmp: Path, name: str, kb: Path, app_port: int, env: dict[str, str]
) -> tuple[str, subprocess.Popen[bytes]]:
    folder = tmp / name
    folder.mkdir()
    shutil.copytree(kb, folder / "kb")
    listen, admin = free_port(), free_port()
    config = folder / "sidecar.yaml"
    config.write_text(yaml.safe_dump(sidecar_config(folder / "kb", app_port, listen, admin)))
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    with (folder / "sidecar.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "guardrail_sidecar", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env={**clean, **env},
        )
    wait_http(f"http://127.0.0.1:{admin}/readyz", proc, 120)
    return f"http://127.0.0.1:{listen}/v1/chat/completions", proc


def timed(client: httpx.Client, url: str, n: int, stream: bool) -> float:
    body = {
        "model": "gpt-bench",
        "stream": stream,
        "messages": [{"role": "user", "content": f"How do refunds work? ({n})"}],
    }
    started = time.perf_counter()
    response = client.post(url, json=body, headers={"traceparent": f"00-{n:032x}-{n + 1:016x}-01"})
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")
    return elapsed


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))] * 1000, 2),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300, help="requests per sidecar and kind (default 300)")
    parser.add_argument("--quick", action="store_true", help="60 requests per sidecar and kind")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    n = 60 if args.quick else args.requests

    with tempfile.TemporaryDirectory() as tmpdir, Collector(Path(tmpdir) / "otelcol") as collector:
        tmp = Path(tmpdir)
        kb = tmp / "kb"
        asyncio.run(load_facts(sidecar_config(kb, 1, 2, 3)))
        app_port = free_port()
        with (tmp / "app.log").open("wb") as log:
            app = subprocess.Popen(
                [sys.executable, str(APP), "--port", str(app_port)], stdout=log, stderr=subprocess.STDOUT
            )
        procs = [app]
        try:
            wait_http(f"http://127.0.0.1:{app_port}/_seen", app, 30)
            urls: dict[str, str] = {}
            for name, env in (("off", {}), ("on", collector.otel_env("guardrail-sidecar"))):
                urls[name], proc = start_sidecar(tmp, name, kb, app_port, env)
                procs.append(proc)
            latencies: dict[str, dict[str, list[float]]] = {k: {"off": [], "on": []} for k in ("json", "stream")}
            with httpx.Client(timeout=60) as client:
                for name in urls:  # warm-up: models, caches, connections
                    for i in range(5):
                        timed(client, urls[name], i, stream=bool(i % 2))
                for i in range(n):
                    for kind in ("json", "stream"):
                        order = ("off", "on") if i % 2 == 0 else ("on", "off")
                        for name in order:
                            latencies[kind][name].append(timed(client, urls[name], 1000 + i, kind == "stream"))
            spans = collector.wait_for_spans(lambda s: len(s) >= 2 * n * 8, timeout=30)
        finally:
            for proc in reversed(procs):
                stop(proc)

    result: dict[str, Any] = {"kinds": {}}
    for kind, by in latencies.items():
        off, on = summary(by["off"]), summary(by["on"])
        result["kinds"][kind] = {
            "off": off,
            "on": on,
            "ratio_p50_on_over_off": round(on["p50_ms"] / off["p50_ms"], 3),
            "ratio_mean_on_over_off": round(on["mean_ms"] / off["mean_ms"], 3),
        }
    result["spans_exported"] = len(spans)
    result["meta"] = {
        "requests_per_sidecar_and_kind": n,
        "collector": "otelcol-guardrail 0.165.0 (otlp receiver, file exporter), OTLP/HTTP, BSP delay 100 ms",
        "sampler": "parentbased_always_on with a sampled client traceparent: every request traced",
        "config": "embedded models, embedded Qdrant, enforce, fail-closed, injection on, warm caches",
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, python {platform.python_version()}",
        "note": "both sidecars on one machine, requests alternated between them; client-side end-to-end times",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["kinds"], indent=2))


if __name__ == "__main__":
    main()
