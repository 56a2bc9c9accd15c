"""`models/manifest.json`: sha256 of every committed model file, plus how the models were built and measured."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from guardrail_models.errors import ChecksumError

MANIFEST_FILE = "manifest.json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checksums(root: Path) -> dict[str, str]:
    """Relative path (posix) → sha256 for every file below `root` except the manifest itself."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.relative_to(root).as_posix() != MANIFEST_FILE)
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in files}


def read_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST_FILE
    if not path.is_file():
        return {}
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def write_manifest(root: Path, updates: dict[str, Any]) -> dict[str, Any]:
    """Merge `updates` into the manifest, refresh the checksums, and write it."""
    manifest = read_manifest(root)
    manifest.update(updates)
    manifest["files"] = checksums(root)
    (root / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def verify(root: Path) -> list[str]:
    """Problems found (empty when every file matches); raises when there is no manifest at all."""
    expected = read_manifest(root).get("files")
    if not expected:
        raise ChecksumError(f"{root / MANIFEST_FILE} not found or lists no files: run `guardrail model package`")
    actual = checksums(root)
    problems = [f"missing: {path}" for path in sorted(set(expected) - set(actual))]
    problems += [f"not in manifest: {path}" for path in sorted(set(actual) - set(expected))]
    problems += [
        f"checksum mismatch: {path}" for path in sorted(set(expected) & set(actual)) if expected[path] != actual[path]
    ]
    return problems
