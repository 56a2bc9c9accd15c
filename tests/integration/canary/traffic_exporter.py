"""A real process exposing the sidecar's metric families (`guardrail_sidecar.observability.metrics.Metrics`) for several
revisions, with steady synthetic traffic: `--profile '{"rev": {"rps": 50, "block": 0.05, "latency": 0.02,
"errors": 0.0, "failOpen": false, "score": 0.8}}'`. Prometheus scrapes it like a sidecar's admin port."""

from __future__ import annotations

import argparse
import json
import signal
import threading

from prometheus_client import start_http_server

from guardrail_sidecar.observability.metrics import Metrics

TICK = 0.1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--profile", required=True, help="JSON: revision -> rps, block, latency, errors, failOpen")
    args = parser.parse_args()
    profile: dict[str, dict[str, float]] = json.loads(args.profile)
    metrics = Metrics()
    start_http_server(args.port, addr="127.0.0.1", registry=metrics.registry)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sent: dict[tuple[str, str], int] = {}  # (revision, kind) -> count so far: exact shares over any window

    def advance(revision: str, kind: str, total: float) -> int:
        step = int(total) - sent.get((revision, kind), 0)
        sent[(revision, kind)] = int(total)
        return step

    ticks = 0
    while not stop.wait(TICK):
        ticks += 1
        for revision, p in profile.items():
            requests = p["rps"] * TICK * ticks
            n = advance(revision, "requests", requests)
            blocked = advance(revision, "block", requests * p.get("block", 0.0))
            errors = advance(revision, "errors", requests * p.get("errors", 0.0))
            metrics.requests.labels(revision, "block").inc(blocked)
            metrics.requests.labels(revision, "pass").inc(n - blocked)
            if errors:
                decision = "fail-open" if p.get("failOpen") else "fail-closed"
                metrics.backend_error_decisions.labels(revision, decision).inc(errors)
            for _ in range(n):
                metrics.added_latency.labels(revision).observe(p.get("latency", 0.01))
                metrics.score.labels(revision).observe(p.get("score", 0.8))


if __name__ == "__main__":
    main()
