"""Added latency of the sidecar proxy alone (pass-through), candidates side by side in one run.

Candidates: direct to the app (baseline); the sidecar (aiohttp server + aiohttp client) on the asyncio loop
and on uvloop; a minimal aiohttp server + httpx client proxy (the usual alternative). Open-loop load at fixed
request rates (latency measured from the scheduled send time, so queueing counts), then closed-loop max
throughput.
Writes bench/results/sidecar_proxy.json. `--quick` for a short run.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from guardrail_devcluster.cluster import free_port

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "sidecar_proxy.json"
PAYLOAD = json.dumps({"ok": True, "text": "x" * 512}).encode()


# --- server roles (this file re-launched as a subprocess)


async def _upstream_handler(_: web.Request) -> web.Response:
    return web.Response(body=PAYLOAD, content_type="application/json")


def serve_upstream(port: int) -> None:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _upstream_handler)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def serve_httpx_proxy(port: int, upstream: int) -> None:
    import httpx

    async def startup(app: web.Application) -> None:
        app["client"] = httpx.AsyncClient(base_url=f"http://127.0.0.1:{upstream}")

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            response = await request.app["client"].request(request.method, request.raw_path, content=body)
        except httpx.HTTPError as exc:  # saturated: count as an error, keep the log quiet
            return web.Response(status=502, text=type(exc).__name__)
        return web.Response(
            body=response.content,
            status=response.status_code,
            content_type=response.headers.get("content-type", "application/octet-stream"),
        )

    app = web.Application()
    app.on_startup.append(startup)
    app.router.add_route("*", "/{tail:.*}", handle)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


# --- load generation


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def open_loop(url: str, rate: float, seconds: float) -> dict[str, Any]:
    """Send at a fixed rate; latency counts from the scheduled send time."""
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=5)  # a saturated candidate shows up as errors, not a stuck run
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        for _ in range(20):  # warm the connection pool
            try:
                async with session.get(url) as r:
                    await r.read()
            except (aiohttp.ClientError, TimeoutError):
                pass  # a saturated candidate: its errors are counted below

        async def one(scheduled: float) -> None:
            nonlocal errors
            try:
                async with session.get(url) as r:
                    await r.read()
                    if r.status != 200:
                        errors += 1
            except (aiohttp.ClientError, TimeoutError):
                errors += 1
            latencies.append(time.perf_counter() - scheduled)

        tasks = []
        start = time.perf_counter()
        n = int(rate * seconds)
        for i in range(n):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(scheduled)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    ms = [v * 1000 for v in latencies]
    return {
        "rate": rate,
        "requests": n,
        "achieved_rps": round(n / elapsed, 1),
        "errors": errors,
        "p50_ms": round(percentile(ms, 0.50), 3),
        "p90_ms": round(percentile(ms, 0.90), 3),
        "p99_ms": round(percentile(ms, 0.99), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
    }


async def closed_loop(url: str, concurrency: int, seconds: float) -> float:
    """Requests per second with `concurrency` requests always in flight."""
    done = 0
    deadline = time.perf_counter() + seconds
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                try:
                    async with session.get(url) as r:
                        await r.read()
                        done += r.status == 200
                except (aiohttp.ClientError, TimeoutError):
                    pass

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.perf_counter() - start)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} not open")


def pinned(cpu: int, args: list[str]) -> list[str]:
    """Pin to one core where `taskset` exists (the goal is stated per core)."""
    return ["taskset", "-c", str(cpu), *args] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else args


def sidecar_config(tmp: Path, listen: int, upstream: int, admin: int) -> Path:
    path = tmp / f"sidecar-{listen}.yaml"
    path.write_text(
        f"""proxy: {{listenPort: {listen}, listenHost: 127.0.0.1, upstreamPort: {upstream}}}
adminPort: {admin}
logLevel: warning
routing:
  stable:
    revision: bench
    models: {{backend: embedded, embedded: {{repository: {REPO / "models" / "repository"}}}}}
"""
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--role", choices=["upstream", "httpx-proxy"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--upstream", type=int)
    args = parser.parse_args()
    if args.role == "upstream":
        serve_upstream(args.port)
        return
    if args.role == "httpx-proxy":
        serve_httpx_proxy(args.port, args.upstream)
        return

    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # the load generator shares core 1 with the app; the proxies get core 0
    seconds = 3.0 if args.quick else 8.0
    rates = [200, 500] if args.quick else [100, 200, 500]
    py = sys.executable
    me = str(Path(__file__).resolve())
    procs: list[subprocess.Popen[bytes]] = []
    results: dict[str, Any] = {"candidates": {}}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        up = free_port()
        procs.append(subprocess.Popen(pinned(1, [py, me, "--role", "upstream", "--port", str(up)])))
        ports = {"direct": up}
        cand = {
            "sidecar-aiohttp-uvloop": (None, {"GUARDRAIL_EVENT_LOOP": "uvloop"}),
            "sidecar-aiohttp-asyncio": (None, {"GUARDRAIL_EVENT_LOOP": "asyncio"}),
            "aiohttp+httpx-client": ("httpx", {}),
        }
        if importlib.util.find_spec("uvloop") is None:
            del cand["sidecar-aiohttp-uvloop"]  # optional: pip install uvloop to compare
        pids: dict[str, int] = {}
        for name, (kind, env) in cand.items():
            port = free_port()
            if kind == "httpx":
                cmd = [py, me, "--role", "httpx-proxy", "--port", str(port), "--upstream", str(up)]
            else:
                cmd = [
                    py,
                    "-m",
                    "guardrail_sidecar",
                    "--config",
                    str(sidecar_config(tmp, port, up, free_port())),
                ]
            proc = subprocess.Popen(pinned(0, cmd), env={**os.environ, **env})
            procs.append(proc)
            ports[name] = port
            pids[name] = proc.pid
        try:
            for port in ports.values():
                wait_port(port)
            time.sleep(1.0)
            for name in ports:
                results["candidates"][name] = {"open_loop": []}
            for rate in rates:
                for name, port in ports.items():  # interleaved: every candidate sees the same machine state
                    run = asyncio.run(open_loop(f"http://127.0.0.1:{port}/v1/models", rate, seconds))
                    results["candidates"][name]["open_loop"].append(run)
                    print(
                        f"{name:26s} {rate:4d} rps  p50 {run['p50_ms']:.3f} ms  p99 {run['p99_ms']:.3f} ms",
                        flush=True,
                    )
            for name, port in ports.items():
                rps = asyncio.run(closed_loop(f"http://127.0.0.1:{port}/v1/models", 32, seconds / 2))
                results["candidates"][name]["max_rps_c32"] = round(rps, 1)
                if name in pids:
                    results["candidates"][name]["rss_mib_after_load"] = rss_mib(pids[name])
                print(f"{name:26s} max {rps:.0f} rps", flush=True)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=10)
    direct = results["candidates"]["direct"]["open_loop"]
    for name, data in results["candidates"].items():
        if name == "direct":
            continue
        data["added_ms"] = [
            {
                "rate": d["rate"],
                "p50": round(r["p50_ms"] - d["p50_ms"], 3),
                "p99": round(r["p99_ms"] - d["p99_ms"], 3),
            }
            for r, d in zip(data["open_loop"], direct, strict=True)
        ]
    results["meta"] = {
        "seconds_per_point": seconds,
        "proxy_pinned_to_one_core": bool(shutil.which("taskset")),
        "cpu_count": os.cpu_count(),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "note": "same run, interleaved; shared 2-core machine; latency from the scheduled send",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
