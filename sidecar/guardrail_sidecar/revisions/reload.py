"""Live config reload: the config file is polled and re-applied when it changes (a ConfigMap update lands as a
file change). An invalid new file is logged and ignored; the running config stays."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from guardrail_contract.sidecar_config import ConfigError, SidecarConfig
from guardrail_sidecar.revisions.served import ServedRevisions

log = logging.getLogger("guardrail.sidecar")


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()  # follows the ..data symlink swap Kubernetes uses for ConfigMap volumes
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


async def watch_file(path: Path, revisions: ServedRevisions, interval: float = 0.5) -> None:
    last = _stamp(path)
    while True:
        await asyncio.sleep(interval)
        stamp = _stamp(path)
        if stamp is None or stamp == last:
            continue
        last = stamp
        try:
            config = SidecarConfig.load(path)
        except ConfigError as exc:
            log.error("config reload rejected; keeping the running config", extra={"fields": {"error": str(exc)}})
            continue
        revisions.apply(config)
        log.info(
            "config reloaded",
            extra={"fields": {"stable": config.routing.stable.revision, "weight": revisions.weight}},
        )
