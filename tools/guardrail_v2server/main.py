"""`python -m guardrail_v2server --repository DIR --http-port N --grpc-port M`: serve until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import signal

from aiohttp import web

from .grpc_service import build_server
from .repository import Repository
from .rest import build_app


async def serve(repository: str, host: str, http_port: int, grpc_port: int, threads: int) -> None:
    repo = Repository(repository, threads)
    if not repo.models:
        raise SystemExit(f"no models found under {repository} (expected <name>/<version>/model.onnx)")
    runner = web.AppRunner(build_app(repo), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, http_port).start()
    grpc_server = build_server(repo, f"{host}:{grpc_port}")
    await grpc_server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    names = ", ".join(f"{n}/{v}" for n, v in repo.models)
    print(
        f"guardrail-v2server ready: http {host}:{http_port}, grpc {host}:{grpc_port}, models {names}",
        flush=True,
    )
    await stop.wait()
    await grpc_server.stop(grace=1)
    await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="guardrail-v2server", description=__doc__)
    parser.add_argument("--repository", required=True, help="model repository folder")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--http-port", type=int, default=8000)
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads per model")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.repository, args.host, args.http_port, args.grpc_port, args.threads))


if __name__ == "__main__":
    main()
