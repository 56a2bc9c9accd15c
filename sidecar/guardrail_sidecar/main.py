"""`guardrail-sidecar --config FILE`: run the scoring proxy and its admin port until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import signal
from collections.abc import Callable
from pathlib import Path

from aiohttp import web
from aiohttp.http import HttpProcessingError

from guardrail_contract.sidecar_config import ConfigError, SidecarConfig
from guardrail_sidecar.observability import logs, tracing
from guardrail_sidecar.observability.metrics import Metrics
from guardrail_sidecar.revisions.reload import watch_file
from guardrail_sidecar.revisions.served import ServedRevisions
from guardrail_sidecar.server.app import build_admin_app, build_proxy_app
from guardrail_sidecar.server.connections import LINGER, ConnectionGuard, GuardedSite, Limits
from guardrail_sidecar.server.proxy import ReverseProxy, Upstream
from guardrail_sidecar.settings import Settings

log = logging.getLogger("guardrail.sidecar")


async def serve(path: Path, config: SidecarConfig) -> None:
    metrics = Metrics()
    revisions = ServedRevisions(config, metrics)
    revisions.apply(config)
    upstream = Upstream(config)
    await upstream.start()
    proxy = ReverseProxy(revisions, metrics, upstream)
    limits = Limits.of(config.proxy)
    # aiohttp's own keep-alive close stays as a backstop behind the guard's deadlines.
    keepalive = max(limits.idle, limits.header) + 1.0
    runners, guards = [], []
    for app in (build_proxy_app(proxy), build_admin_app(proxy)):
        guard = ConnectionGuard(limits)
        guard.install(app)
        guards.append(guard)
        runners.append(
            web.AppRunner(
                app,
                access_log=None,
                handle_signals=False,
                keepalive_timeout=keepalive,
                lingering_time=LINGER,  # after an error, read what's left of a body this long, then close
            )
        )
    for runner in runners:
        await runner.setup()
    host = config.proxy.listen_host
    await GuardedSite(runners[0], host, config.proxy.listen_port, guards[0], backlog=1024).start()
    await GuardedSite(runners[1], host, config.admin_port, guards[1], backlog=128).start()
    tasks = [asyncio.create_task(watch_file(path, revisions))]
    if config.watch is not None:
        from guardrail_sidecar.revisions.watch import watch_guardrail

        tasks.append(asyncio.create_task(watch_guardrail(config.watch, revisions)))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "guardrail sidecar serving",
        extra={
            "fields": {
                "listen": config.proxy.listen_port,
                "admin": config.admin_port,
                "upstream": upstream.base,
                "stable": config.routing.stable.revision,
            }
        },
    )
    await stop.wait()
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    for runner in runners:
        await runner.cleanup()
    await upstream.close()
    await revisions.close()


class QuietClientErrors(logging.Filter):
    """aiohttp logs every malformed request (the client's fault, already answered 400) as an error with a
    traceback, so any client could flood the log; those records are dropped. Server faults still log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, HttpProcessingError)


def main(argv: list[str] | None = None) -> None:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="guardrail-sidecar", description=__doc__)
    parser.add_argument(
        "--config",
        type=Path,
        default=settings.config,
        help="sidecar config YAML (the rendered ConfigMap's sidecar.yaml); env GUARDRAIL_CONFIG",
    )
    parser.add_argument(
        "--loop",
        choices=["auto", "uvloop", "asyncio"],
        default=settings.event_loop,
        help="event loop (auto: uvloop when installed); env GUARDRAIL_EVENT_LOOP",
    )
    args = parser.parse_args(argv)
    if args.config is None:
        parser.error("--config (or GUARDRAIL_CONFIG) is required")
    try:
        config = SidecarConfig.load(args.config)
    except ConfigError as exc:
        raise SystemExit(f"guardrail-sidecar: {exc}") from exc
    logs.configure(config.log_level)
    tracing.configure()  # off unless the OTEL_* variables ask for it (docs/tracing.md)
    logging.getLogger("aiohttp.server").addFilter(QuietClientErrors())
    with asyncio.Runner(loop_factory=_loop_factory(args.loop)) as runner:
        runner.run(serve(args.config, config))


def _loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when chosen, or (auto) when installed; it is optional: bench/sidecar_proxy.py compares both."""
    if choice == "asyncio":
        return None
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        if choice == "uvloop":
            raise SystemExit("guardrail-sidecar: --loop uvloop but uvloop is not installed") from None
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory
