"""What the shadow stage adds to the response path: identical sidecars (stable + candidate revision, canary
weight 0, embedded models on CPU), one not shadowing and one per `--sample-rates` value (default 1.0 and 0.1)
scoring that share of the answers with the candidate too, under the same open-loop load at a fixed request rate,
requests interleaved between them so all see the same machine load; latency is timed from each request's
scheduled send time.

Two answer mixes, one after the other in the same run:
- `warm`: answers cycle through a pool of 12, so after the warm-up both revisions' scoring caches answer; the
  difference is the shadow queue's own cost on the response path (draw, closure, `put_nowait`, the workers'
  event-loop turns).
- `fresh`: every answer is new, so stable and candidate both run the NLI model each time: the shadow worker's
  CPU competes with the response path on the same cores (the honest worst case on a small machine).
Writes bench/results/shadow_latency.json (per shadowing sidecar: p50/p99, added p50/p99 in ms and the ratios
against the non-shadowing one, shadowed and dropped counts from its /metrics). `--quick`: a short run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from guardrail_devcluster.cluster import free_port  # noqa: E402 - after sys.path
from tests.support.processes import stop, wait_http  # noqa: E402

REPOSITORY = REPO / "models" / "repository"
RESULTS = REPO / "bench" / "results" / "shadow_latency.json"
APP = REPO / "tests" / "support" / "fake_llm.py"
CONTEXT = (
    "Refunds are paid within 14 days of receiving the returned item. Shipping is free for orders above 50 euros. "
    "Support answers within one working day."
)
ANSWERS = [  # {n} makes each claim a new (evidence, claim) pair for the NLI model and its cache
    "Refunds are paid within {n} days.",
    "Shipping is free for orders above {n} euros.",
    "Support answers within {n} working days.",
]


def revision(name: str, threshold: float) -> dict[str, Any]:
    return {
        "revision": name,
        "policy": {
            "mode": "enforce",
            "threshold": threshold,
            "softLimit": threshold,
            "promptInjection": {"enabled": False},
        },
        "models": {"backend": "embedded", "embedded": {"repository": str(REPOSITORY)}},
    }


def start_sidecar(tmp: Path, name: str, app_port: int, rate: float) -> tuple[str, str, subprocess.Popen[bytes]]:
    listen, admin = free_port(), free_port()
    config = {
        "proxy": {"listenPort": listen, "listenHost": "127.0.0.1", "upstreamPort": app_port},
        "adminPort": admin,
        "logLevel": "warning",
        "routing": {
            "stable": revision("stable", 0.3),
            "canary": revision("candidate", 0.6),
            "canaryWeight": 0,
            "shadowSampleRate": rate,
        },
    }
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    with (tmp / f"{name}.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "guardrail_sidecar", "--config", str(path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
    wait_http(f"http://127.0.0.1:{admin}/readyz", proc, 120)
    return f"http://127.0.0.1:{listen}/v1/chat/completions", f"http://127.0.0.1:{admin}/metrics", proc


def answer_for(mix: str, i: int) -> str:
    """`warm`: 12 distinct answers (cached after the warm-up); `fresh`: a new claim every request."""
    n = 14 + i % 4 if mix == "warm" else 100 + i
    return ANSWERS[i % len(ANSWERS)].format(n=n)


async def one(client: httpx.AsyncClient, url: str, text: str, due: float) -> float:
    await asyncio.sleep(max(0.0, due - time.perf_counter()))
    body = {"model": "m", "messages": [{"role": "system", "content": CONTEXT}, {"role": "user", "content": "?"}]}
    response = await client.post(url, json=body, headers={"x-fake-answer": quote(text)})
    if response.status_code != 200:
        raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")
    if response.headers.get("x-guardrail-revision") != "stable":
        raise RuntimeError("a candidate verdict reached the client")
    return time.perf_counter() - due


async def load(urls: dict[str, str], mix: str, rate: float, n: int) -> dict[str, list[float]]:
    """`n` requests to each sidecar at `rate` per second each, open loop, interleaved evenly (and rotated)."""
    period = 1.0 / rate
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=200)) as client:
        for name in urls:  # warm-up: models, caches, connections
            for i in range(8):
                await one(client, urls[name], answer_for(mix, i), time.perf_counter())
        start = time.perf_counter() + 0.2
        tasks: dict[str, list[asyncio.Task[float]]] = {name: [] for name in urls}
        names = list(urls)
        for i in range(n):
            order = names[i % len(names) :] + names[: i % len(names)]
            for k, name in enumerate(order):
                due = start + i * period + k * period / len(names)
                tasks[name].append(asyncio.create_task(one(client, urls[name], answer_for(mix, 1000 + i), due)))
        return {name: list(await asyncio.gather(*ts)) for name, ts in tasks.items()}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values) * 1000, 3),
        "p99_ms": round(pct(values, 0.99) * 1000, 3),
        "mean_ms": round(statistics.fmean(values) * 1000, 3),
    }


def metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=4.0, help="requests per second to each sidecar (default 4)")
    parser.add_argument("--requests", type=int, default=300, help="requests per sidecar and mix (default 300)")
    parser.add_argument(
        "--sample-rates",
        type=lambda text: [float(x) for x in text.split(",")],
        default=[1.0, 0.1],
        help="shadowSampleRate of each shadowing sidecar (default 1.0,0.1), each against the same non-shadowing one",
    )
    parser.add_argument("--quick", action="store_true", help="100 requests per sidecar and mix")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    n = 100 if args.quick else args.requests
    result: dict[str, Any] = {"mixes": {}}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        app_port = free_port()
        with (tmp / "app.log").open("wb") as log:
            app = subprocess.Popen(
                [sys.executable, str(APP), "--port", str(app_port)], stdout=log, stderr=subprocess.STDOUT
            )
        procs = [app]
        try:
            wait_http(f"http://127.0.0.1:{app_port}/_seen", app, 30)
            urls, metrics_urls = {}, {}
            sidecars = [("off", 0.0)] + [(f"on@{r:g}", r) for r in args.sample_rates]
            for name, rate in sidecars:
                urls[name], metrics_urls[name], proc = start_sidecar(tmp, name.replace("@", "-"), app_port, rate)
                procs.append(proc)
            for mix in ("warm", "fresh"):
                before = {name: httpx.get(url).text for name, url in metrics_urls.items()}
                latencies = asyncio.run(load(urls, mix, args.rate, n))
                time.sleep(2)  # let the shadow queues finish what they took
                after = {name: httpx.get(url).text for name, url in metrics_urls.items()}
                off = summary(latencies["off"])
                out: dict[str, Any] = {"off": off}
                for name, _ in sidecars[1:]:
                    on = summary(latencies[name])

                    def delta(metric_name: str, a: str = after[name], b: str = before[name]) -> float:
                        return metric(a, metric_name) - metric(b, metric_name)

                    shadowed = delta("guardrail_shadow_scoring_seconds_count")
                    out[name] = {
                        **on,
                        "added_p99_ms": round(on["p99_ms"] - off["p99_ms"], 3),
                        "added_p50_ms": round(on["p50_ms"] - off["p50_ms"], 3),
                        "ratio_p99_on_over_off": round(on["p99_ms"] / off["p99_ms"], 3),
                        "ratio_p50_on_over_off": round(on["p50_ms"] / off["p50_ms"], 3),
                        "shadowed": shadowed,
                        "dropped": delta("guardrail_shadow_dropped_total"),
                        "candidate_scoring_mean_ms": round(
                            1000 * delta("guardrail_shadow_scoring_seconds_sum") / max(shadowed, 1), 3
                        ),
                    }
                result["mixes"][mix] = out
                print(mix, json.dumps(out), flush=True)
        finally:
            for proc in reversed(procs):
                stop(proc)
    result["meta"] = {
        "rate_per_sidecar": args.rate,
        "requests_per_sidecar_and_mix": n,
        "shadow_sample_rates": args.sample_rates,
        "goal": "added p99 <= 1 ms on the response path",
        "config": "embedded models (CPU onnxruntime), context in the request (no knowledge base), injection off",
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, python {platform.python_version()}",
        "note": "all sidecars on one machine, requests interleaved; latency from the scheduled send time (open loop)",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["mixes"], indent=2))


if __name__ == "__main__":
    main()
