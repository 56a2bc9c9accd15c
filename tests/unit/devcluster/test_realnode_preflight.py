"""Where the machine cannot run a real node, `preflight` says why before anything starts, and the
real-pods tier turns that into a skip (tests/e2e/real_pods/conftest.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from guardrail_devcluster import realnode
from guardrail_devcluster.realnode import RealNodeUnavailable, preflight


def test_not_root_is_unavailable_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(RealNodeUnavailable, match="needs root"):
        preflight()


def test_missing_debian_packages_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(shutil, "which", lambda name: None if name in ("containerd", "runc") else "/x")
    with pytest.raises(RealNodeUnavailable, match=r"containerd, runc .*make node-deps"):
        preflight()


def test_no_cgroups_is_unavailable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(shutil, "which", lambda name: "/x")
    monkeypatch.setattr(realnode, "CNI_BIN", tmp_path)
    for plugin in ("bridge", "host-local", "loopback", "portmap"):
        (tmp_path / plugin).touch()
    monkeypatch.setattr(realnode, "CGROUP_ROOT", tmp_path / "no-cgroups")
    with pytest.raises(RealNodeUnavailable, match="no cgroup"):
        preflight()
