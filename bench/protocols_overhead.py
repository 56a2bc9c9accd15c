"""What each API costs through the sidecar: the same grounded answer, in each API's own shape, asked of one
sidecar (embedded models, warm caches) and of the app directly, the four APIs and both modes interleaved so all
see the same machine load; the client times each request end to end.

The app is the protocol tests' scripted app (`tests/integration/protocols/scripted_app.py`), answering with the
knowledge base's refunds passage (a pass: every sentence scored). Added time = through the sidecar minus
direct; the ratios compare each API's added time with chat completions' in the same run.
Writes bench/results/protocols_overhead.json. `--quick`: fewer requests.
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

import httpx
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from guardrail_devcluster.cluster import free_port  # noqa: E402 - after sys.path
from tests.support.facts import load_facts  # noqa: E402
from tests.support.processes import stop, wait_http  # noqa: E402

REPOSITORY = REPO / "models" / "repository"
RESULTS = REPO / "bench" / "results" / "protocols_overhead.json"
APP = REPO / "tests" / "integration" / "protocols" / "scripted_app.py"
QUESTION = "How do refunds work?"
BODIES: dict[str, tuple[str, dict[str, Any]]] = {
    "chat": ("/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": QUESTION}]}),
    "completions": ("/v1/completions", {"model": "m", "prompt": QUESTION}),
    "responses": ("/v1/responses", {"model": "m", "input": QUESTION}),
    "messages": ("/v1/messages", {"model": "m", "max_tokens": 64, "messages": [{"role": "user", "content": QUESTION}]}),
}


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


def timed(client: httpx.Client, base: str, api: str, stream: bool) -> float:
    path, body = BODIES[api]
    started = time.perf_counter()
    response = client.post(base + path, json=body | {"stream": stream}, headers={"x-scripted-answer": "grounded"})
    text = response.text  # the whole answer, streams included
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or "14 days" not in text:
        raise RuntimeError(f"{api} stream={stream}: {response.status_code} {text[:300]}")
    return elapsed


def p50(values: list[float]) -> float:
    return statistics.median(values) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=150, help="requests per API, mode and target (default 150)")
    parser.add_argument("--quick", action="store_true", help="30 requests per API, mode and target")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    n = 30 if args.quick else args.requests

    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        kb = tmp / "kb"
        asyncio.run(load_facts(sidecar_config(kb, 1, 2, 3)))
        app_port, listen, admin = free_port(), free_port(), free_port()
        config = tmp / "sidecar.yaml"
        config.write_text(yaml.safe_dump(sidecar_config(kb, app_port, listen, admin)))
        with (tmp / "app.log").open("wb") as app_log, (tmp / "sidecar.log").open("wb") as sidecar_log:
            app = subprocess.Popen([sys.executable, str(APP), "--port", str(app_port)], stdout=app_log, stderr=app_log)
            sidecar = subprocess.Popen(
                [sys.executable, "-m", "guardrail_sidecar", "--config", str(config)],
                stdout=sidecar_log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
        try:
            wait_http(f"http://127.0.0.1:{app_port}/_seen", app, 30)
            wait_http(f"http://127.0.0.1:{admin}/readyz", sidecar, 120)
            targets = {"direct": f"http://127.0.0.1:{app_port}", "sidecar": f"http://127.0.0.1:{listen}"}
            times: dict[str, list[float]] = {}
            with httpx.Client(timeout=60) as client:
                for api in BODIES:  # warm-up: models, caches, connections
                    for stream in (False, True):
                        for _ in range(3):
                            timed(client, targets["sidecar"], api, stream)
                for i in range(n):
                    for api in BODIES:
                        for mode in ("json", "stream"):
                            order = ("direct", "sidecar") if i % 2 == 0 else ("sidecar", "direct")
                            for target in order:
                                key = f"{api}/{mode}/{target}"
                                times.setdefault(key, []).append(timed(client, targets[target], api, mode == "stream"))
        finally:
            stop(sidecar)
            stop(app)

    result: dict[str, Any] = {"apis": {}}
    for mode in ("json", "stream"):
        chat_added = p50(times[f"chat/{mode}/sidecar"]) - p50(times[f"chat/{mode}/direct"])
        for api in BODIES:
            direct, through = p50(times[f"{api}/{mode}/direct"]), p50(times[f"{api}/{mode}/sidecar"])
            added = through - direct
            result["apis"].setdefault(api, {})[mode] = {
                "direct_p50_ms": round(direct, 2),
                "sidecar_p50_ms": round(through, 2),
                "added_p50_ms": round(added, 2),
                "added_ratio_to_chat": round(added / chat_added, 3) if chat_added > 0 else None,
            }
    result["meta"] = {
        "requests_per_api_mode_and_target": n,
        "answer": "the knowledge base's refunds passage (one sentence, passes), streamed in 9-character pieces",
        "config": "embedded models and Qdrant, enforce, fail-closed, injection on, holdBackSentences 1, warm caches",
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, python {platform.python_version()}",
        "note": "one sidecar, APIs, modes and direct/sidecar requests interleaved; client-side end-to-end p50",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["apis"], indent=2))


if __name__ == "__main__":
    main()
