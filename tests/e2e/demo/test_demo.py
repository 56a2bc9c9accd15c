"""`guardrail demo --once` end to end: the whole product on one machine, as a user runs it.

Runs against the session's control plane (as the current kube context) in a fresh namespace, with its own work
folder, and checks what the issue asks the demo to show: every answer judged, a canary promoted 10 → 50 → 100,
a bad revision rolled back with its reason, exit code 0, and no process left behind.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from guardrail_contract.sidecar_config import SidecarConfig
from guardrail_demo import manifests
from guardrail_devcluster.cluster import REPO_ROOT, LocalCluster

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(240)]
GUARDRAIL = str(Path(sys.executable).parent / "guardrail")


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that contain `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(cmdline)
    return found


def test_demo_once_shows_the_product_working_and_cleans_up(
    cluster: LocalCluster, namespace: str, tmp_path: Path
) -> None:
    if shutil.which("prometheus") is None:
        pytest.skip("prometheus is not installed: `make system-deps`")
    work = tmp_path / "demo"
    args = [
        "demo",
        "--once",
        "--current-context",
        "--require-canary",
        "--namespace",
        namespace,
        "--work-dir",
        str(work),
    ]
    result = subprocess.run(
        [GUARDRAIL, *args],
        env={**cluster.env, "COLUMNS": "200"},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=220,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-6000:]
    assert "every answer was judged by revision" in out, out[-6000:]
    assert "went 10 → 50 → 100 and was promoted" in out, out[-6000:]
    assert "and was rolled back: Canary" in out, out[-6000:]
    assert "analysis failed: blockRateIncrease" in out, out[-6000:]
    assert "demo OK" in out
    assert _processes_mentioning(str(work)) == []
    # The models were served by the real Triton, which Prometheus scraped, and it was stopped too.
    triton = re.search(r"inference  Triton 2\.51\.0 \(real\) gRPC 127\.0\.0\.1:(\d+)", out)
    assert triton is not None, out[-6000:]
    assert "Prometheus holds Triton's nv_inference_* series for every model the sidecar used" in out, out[-6000:]
    assert _processes_mentioning(f"--grpc-port={triton.group(1)}") == []

    # The sidecar ran the operator's rendered config with local overrides only, and followed the Guardrail's
    # status by itself: the promoted revision scored answers during its canary.
    config = SidecarConfig.load(work / "sidecar.yaml")
    first = manifests.revision(manifests.load(REPO_ROOT / "examples" / "guardrail.yaml"))
    promoted = manifests.revision(manifests.load(REPO_ROOT / "examples" / "guardrail-canary.yaml"))
    assert config.routing.stable.revision == first
    assert config.watch is not None
    assert config.watch.namespace == namespace
    assert config.models_override is not None
    assert config.models_override.triton is not None
    assert config.models_override.triton.url.startswith("127.0.0.1:")
    assert config.qdrant_override is not None
    assert config.qdrant_override.path == str(work / "qdrant")
    served = re.search(rf"answers per revision during the rollout: .*{promoted} (\d+)", out)
    assert served is not None, out[-6000:]
    assert int(served.group(1)) > 0
