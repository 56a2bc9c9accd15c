"""Write models into the repository layout; copy and check whole repositories (file I/O only)."""

from __future__ import annotations

import shutil
from pathlib import Path

from guardrail_contract import tensors
from guardrail_models.errors import RepositoryError
from guardrail_models.repository import CONFIG_FILE, INFO_FILE, ModelInfo, read_info, render_config


def _copy(source: Path, target: Path) -> None:
    if source.resolve() != target.resolve():  # packaging a repository onto itself only re-renders configs
        shutil.copyfile(source, target)


def write_model(
    repository: Path,
    info: ModelInfo,
    onnx_file: Path,
    tokenizer_file: Path | None,
    version: int = 1,
) -> Path:
    """Place one model (ONNX + tokenizer + model.json) and its rendered config.pbtxt; returns the version dir."""
    if not onnx_file.is_file():
        raise RepositoryError(f"ONNX file {onnx_file} not found")
    if info.max_length and (tokenizer_file is None or not tokenizer_file.is_file()):
        raise RepositoryError(f"model {info.name!r} takes tokens: pass its tokenizer.json (--tokenizer)")
    version_dir = repository / info.name / str(version)
    version_dir.mkdir(parents=True, exist_ok=True)
    _copy(onnx_file, version_dir / tensors.MODEL_FILE)
    if tokenizer_file is not None and info.max_length:
        _copy(tokenizer_file, version_dir / tensors.TOKENIZER_FILE)
    (version_dir / INFO_FILE).write_text(info.to_json())
    (repository / info.name / CONFIG_FILE).write_text(render_config(info))
    return version_dir


def list_models(repository: Path) -> list[tuple[str, int]]:
    """(name, version) of every model folder holding a version with a model.json."""
    found = []
    for config in sorted(repository.glob(f"*/{CONFIG_FILE}")):
        for version_dir in sorted(config.parent.iterdir()):
            if version_dir.is_dir() and version_dir.name.isdigit() and (version_dir / INFO_FILE).is_file():
                found.append((config.parent.name, int(version_dir.name)))
    return found


def copy_repository(source: Path, target: Path) -> list[tuple[str, int]]:
    """Copy every model of `source` to `target`, re-rendering each config.pbtxt from its model.json."""
    models = list_models(source)
    if not models:
        raise RepositoryError(f"{source} holds no model (expected <name>/config.pbtxt and <name>/1/model.json)")
    for name, version in models:
        version_dir = source / name / str(version)
        info = read_info(version_dir)
        tokenizer = version_dir / tensors.TOKENIZER_FILE
        write_model(target, info, version_dir / tensors.MODEL_FILE, tokenizer if tokenizer.is_file() else None)
    return models
