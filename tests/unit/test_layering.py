"""The import-linter contracts in pyproject.toml hold, and they catch a planted violation."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
SOURCES = ("contract", "operator", "sidecar", "tools")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed (make install)")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PYTHONPATH": os.pathsep.join(str(root / s) for s in SOURCES)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(root / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the project's sources and contracts, so planted modules never touch the real tree."""
    for source in SOURCES:
        shutil.copytree(ROOT / source, tmp_path / source, ignore=shutil.ignore_patterns("__pycache__", "*.onnx"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_contracts_hold(tree: Path) -> None:
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("planted", "contract"),
    [
        ("operator/guardrail_operator/builders/planted.py", "pure layers"),
        ("operator/guardrail_operator/rollout/planted.py", "pure layers"),
        ("operator/guardrail_operator/controller/planted.py", None),  # the controller glue may use clients
        ("sidecar/guardrail_sidecar/planted.py", "sidecar imports nothing"),
        ("contract/guardrail_contract/planted.py", "contract package imports nothing"),
        ("operator/guardrail_operator/webhook/planted_sidecar.py", "imports nothing of the sidecar"),
        ("sidecar/guardrail_sidecar/revisions/table.py", "use no network client"),  # the pure routing table
    ],
)
def test_a_planted_import_is_caught(tree: Path, planted: str, contract: str | None) -> None:
    target = "guardrail_operator.clients.k8s" if "guardrail_operator" in planted else "guardrail_operator.controller"
    if "planted_sidecar" in planted:
        target = "guardrail_sidecar.server.proxy"
    if planted.endswith("revisions/table.py"):
        target = "aiohttp"
    (tree / planted).write_text(f"import {target}  # planted layering violation\n")
    result = lint_imports(tree)
    if contract is None:
        assert result.returncode == 0, result.stdout + result.stderr
        return
    assert result.returncode != 0
    assert f"{contract}" in result.stdout.replace("\n", " ")
    assert "BROKEN" in result.stdout
