"""The krew plugin manifest of `kubectl guardrail` (charts/krew/guardrail.yaml) and its archive: the manifest is
generated from the reproducible archive (its sha256 checked), has the shape krew's index requires, and the
launcher in the archive runs the plugin. tests/e2e/chart/test_krew_install.py installs it with krew itself."""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import yaml

from guardrail_chart import krew

KNOWN_OS = {"linux", "darwin", "windows"}


def manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(krew.MANIFEST.read_text())
    return loaded


def members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: m for m in tar.getmembers()}


def extract(data: bytes, folder: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(folder, filter="data")


def test_the_committed_manifest_matches_the_archive_built_now() -> None:
    assert krew.main(["--check"]) == 0, "run: python -m guardrail_chart.krew"


def test_the_archive_is_reproducible() -> None:
    version = krew.project_version()
    assert krew.archive(version) == krew.archive(version)
    assert krew.archive(version) != krew.archive("9.9.9")


def test_the_manifest_has_the_shape_krew_requires() -> None:
    plugin = manifest()
    version = krew.project_version()
    assert plugin["apiVersion"] == "krew.googlecontainertools.github.com/v1alpha2"
    assert plugin["kind"] == "Plugin"
    assert re.fullmatch(r"[a-z][a-z0-9-]*", plugin["metadata"]["name"])
    spec = plugin["spec"]
    assert spec["version"] == f"v{version}"
    assert re.fullmatch(r"v\d+\.\d+\.\d+", spec["version"])
    assert spec["homepage"].startswith("https://")
    assert 0 < len(spec["shortDescription"]) <= 50, "krew-index limits shortDescription"
    assert spec["description"].strip()
    data = krew.archive(version)
    inside = members(data)
    for platform in spec["platforms"]:
        (expression,) = platform["selector"]["matchExpressions"]
        assert expression["key"] == "os"
        assert expression["operator"] == "In"
        assert set(expression["values"]) <= KNOWN_OS
        assert platform["uri"].startswith("https://")
        assert platform["uri"].endswith(f"/{spec['version']}/{krew.archive_name(version)}")
        assert platform["sha256"] == hashlib.sha256(data).hexdigest()
        assert {f["from"] for f in platform["files"]} <= set(inside)
        assert platform["bin"] == f"kubectl-{plugin['metadata']['name']}"
        assert inside[platform["bin"]].mode & 0o111, "the bin is executable"
    assert "LICENSE" in inside


def test_the_launcher_runs_the_plugin_from_a_virtualenv(tmp_path: Path) -> None:
    extract(krew.archive(krew.project_version()), tmp_path)
    env = {**os.environ, "GUARDRAIL_KUBECTL_VENV": sys.prefix}
    result = subprocess.run(
        [str(tmp_path / krew.BIN), "--help"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert {"rollout", "promote", "abort"} <= set(re.findall(r"^\s+(\w+)", result.stdout, re.MULTILINE))


def test_the_launcher_names_a_missing_virtualenv(tmp_path: Path) -> None:
    extract(krew.archive(krew.project_version()), tmp_path)
    env = {**os.environ, "GUARDRAIL_KUBECTL_VENV": str(tmp_path / "nowhere")}
    result = subprocess.run([str(tmp_path / krew.BIN)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "nowhere/bin/kubectl-guardrail not found" in result.stderr
