"""`python -m guardrail_otel build` builds (or finds) the collector; `run FOLDER` runs one until Ctrl-C."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from guardrail_otel.build import build, ensure_built
from guardrail_otel.collector import Collector


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m guardrail_otel", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    built = sub.add_parser("build", help="build the collector into the cache (nothing to do when cached)")
    built.add_argument("--force", action="store_true", help="rebuild even when cached")
    built.add_argument("-p", "--jobs", type=int, default=None, help="go build -p (default: the go command's)")
    run = sub.add_parser("run", help="run a collector writing spans to FOLDER/spans.jsonl until interrupted")
    run.add_argument("folder", type=Path)
    args = parser.parse_args()
    if args.command == "build":
        print(build(args.jobs) if args.force else ensure_built(args.jobs))
        return
    with Collector(args.folder) as collector:
        print(f"OTEL_EXPORTER_OTLP_ENDPOINT={collector.http_endpoint} (grpc: {collector.grpc_endpoint})")
        print(f"spans -> {collector.output}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
