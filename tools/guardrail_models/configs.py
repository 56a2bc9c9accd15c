"""Turn `NAME=PATH[@THRESHOLD]` specs into evaluation configurations backed by the embedded ONNX scorer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from guardrail_models.errors import ModelError, RepositoryError
from guardrail_models.evaluation import Configuration
from guardrail_models.repository import INFO_FILE, default_repository, model_dir, read_info
from guardrail_models.runtime import NliModel, load_tokenizer, open_session
from guardrail_sidecar import contract


@dataclass(frozen=True)
class Spec:
    name: str
    path: Path | None  # None: the default repository
    threshold: float


def parse_spec(text: str, default_threshold: float) -> Spec:
    """`int8=models/repository@0.6` → Spec('int8', Path('models/repository'), 0.6)."""
    name, sep, rest = text.partition("=")
    if not sep or not name or not rest:
        raise ModelError(f"--compare {text!r}: write NAME=PATH or NAME=PATH@THRESHOLD (PATH: repository or .onnx)")
    path_text, at, threshold_text = rest.rpartition("@") if "@" in rest else (rest, "", "")
    try:
        threshold = float(threshold_text) if at else default_threshold
    except ValueError as exc:
        raise ModelError(f"--compare {text!r}: threshold {threshold_text!r} is not a number") from exc
    path = None if path_text in ("default", "") else Path(path_text)
    return Spec(name, path, threshold)


def resolve_nli(path: Path | None) -> tuple[Path, Path]:
    """(version dir holding tokenizer + model.json, ONNX file) for a repository, a version dir, or an .onnx file."""
    if path is None:
        version_dir = model_dir(default_repository(), contract.NLI_MODEL)
        return version_dir, version_dir / contract.MODEL_FILE
    if path.suffix == ".onnx":
        if not path.is_file():
            raise RepositoryError(f"{path} not found")
        beside = path.parent if (path.parent / INFO_FILE).is_file() else None
        version_dir = beside or model_dir(default_repository(), contract.NLI_MODEL)
        return version_dir, path
    if (path / contract.MODEL_FILE).is_file():
        return path, path / contract.MODEL_FILE
    version_dir = model_dir(path, contract.NLI_MODEL)
    return version_dir, version_dir / contract.MODEL_FILE


def load_configuration(spec: Spec, threads: int = 0) -> Configuration:
    version_dir, onnx_file = resolve_nli(spec.path)
    info = read_info(version_dir)
    model = NliModel(open_session(onnx_file, threads), load_tokenizer(version_dir, info), info)
    return Configuration(spec.name, model.score, spec.threshold)
