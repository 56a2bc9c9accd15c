"""`krew install --manifest --archive` with krew itself (v0.4.4, built from its Go module by
guardrail_chart.krew): krew accepts the committed manifest, checks the archive's sha256, installs the plugin,
and `kubectl-guardrail` on krew's bin path runs it."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from guardrail_chart import krew

pytestmark = pytest.mark.e2e


def test_krew_installs_the_plugin_from_the_manifest_and_archive(tmp_path: Path) -> None:
    """krew validates the manifest, checks the archive's sha256, installs it, and `kubectl-guardrail` on krew's
    bin path runs the plugin."""
    binary = krew.krew_binary()
    archive = tmp_path / krew.archive_name(krew.project_version())
    archive.write_bytes(krew.archive(krew.project_version()))
    root = tmp_path / "krew-root"
    env = {**os.environ, "KREW_ROOT": str(root), "GUARDRAIL_KUBECTL_VENV": sys.prefix, "HOME": str(tmp_path)}
    install = [str(binary), "install", f"--manifest={krew.MANIFEST}", f"--archive={archive}"]
    result = subprocess.run(install, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Installed plugin: guardrail" in result.stdout + result.stderr
    receipt = yaml.safe_load((root / "receipts" / "guardrail.yaml").read_text())
    assert receipt["spec"]["version"] == f"v{krew.project_version()}"
    plugin = root / "bin" / krew.BIN
    ran = subprocess.run([str(plugin), "--help"], env=env, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert "rollout" in ran.stdout

    tampered = tmp_path / "tampered" / archive.name
    tampered.parent.mkdir()
    tampered.write_bytes(archive.read_bytes() + b"\0")
    env["KREW_ROOT"] = str(tmp_path / "krew-root-2")
    refused = subprocess.run(
        [str(binary), "install", f"--manifest={krew.MANIFEST}", f"--archive={tampered}"],
        env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert refused.returncode != 0
    assert f"got {hashlib.sha256(tampered.read_bytes()).hexdigest()}" in refused.stderr, "krew checks the sha256"
