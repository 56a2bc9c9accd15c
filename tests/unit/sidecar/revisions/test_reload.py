"""Live reload: a changed config file changes the canary weight without a restart; a broken one is ignored."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from guardrail_contract.sidecar_config import SidecarConfig
from guardrail_sidecar.observability.metrics import Metrics
from guardrail_sidecar.revisions.reload import watch_file
from guardrail_sidecar.revisions.served import ServedRevisions
from tests.support.fake_scorer import FakeScorer

CONFIG = """
routing:
  canaryWeight: {weight}
  stable: {{revision: s1, models: {{backend: embedded, embedded: {{repository: /unused}}}}}}
  canary: {{revision: c1, models: {{backend: embedded, embedded: {{repository: /unused}}}}}}
"""


async def wait_for(condition: object, seconds: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)


async def test_weight_change_in_the_file_applies_live(tmp_path: Path) -> None:
    path = tmp_path / "sidecar.yaml"
    path.write_text(CONFIG.format(weight=10))
    config = SidecarConfig.load(path)
    fake = FakeScorer()
    revisions = ServedRevisions(config, Metrics(), make_scorer=lambda _: fake)
    revisions.apply(config)
    stable_before = revisions.stable
    task = asyncio.create_task(watch_file(path, revisions, interval=0.01))
    await asyncio.sleep(0.05)  # the watcher has seen the first version
    try:
        path.write_text(CONFIG.format(weight=60))
        await wait_for(lambda: revisions.weight == 60)
        assert revisions.stable is stable_before  # unchanged revision keeps its pipeline (and caches)
        path.write_text("routing: {canaryWeight: 999}")  # invalid: ignored
        await asyncio.sleep(0.1)
        assert revisions.weight == 60
        path.write_text(CONFIG.format(weight=0).replace("c1", "c2"))
        await wait_for(lambda: revisions.canary is not None and revisions.canary.revision == "c2")
        assert revisions.weight == 0
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
