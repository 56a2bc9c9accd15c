"""Turn `NAME=TARGET[@THRESHOLD]` specs into evaluation configurations.

TARGET is a model repository, a version folder or an `.onnx` file (the embedded onnxruntime scorer), a v2
server such as Triton (`grpc://HOST:PORT`, `http://HOST:PORT`), a local Triton started for the run
(`triton:` or `triton:REPOSITORY`) or a sidecar config (`sidecar:FILE.yaml`, end to end); see
`guardrail_models.served` for the last three.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from guardrail_contract import tensors
from guardrail_models.errors import ModelError, RepositoryError
from guardrail_models.evaluation import Configuration
from guardrail_models.repository import INFO_FILE, default_repository, model_dir, read_info
from guardrail_models.runtime import NliModel, load_tokenizer, open_session
from guardrail_models.served import is_served, served_configuration

SPEC_FORMS = (
    "NAME=PATH, NAME=grpc://HOST:PORT, NAME=http://HOST:PORT, NAME=triton:[REPOSITORY] or NAME=sidecar:FILE.yaml"
    " (optional @THRESHOLD)"
)


@dataclass(frozen=True)
class Spec:
    name: str
    target: str  # "" for the default repository
    threshold: float | None  # None: the target's own (a sidecar's policy threshold) or the command's default

    @property
    def path(self) -> Path | None:
        return None if self.target in ("", "default") else Path(self.target)


def parse_spec(text: str) -> Spec:
    """`int8=models/repository@0.6` → Spec('int8', 'models/repository', 0.6)."""
    name, sep, rest = text.partition("=")
    if not sep or not name or not rest:
        raise ModelError(f"--compare {text!r}: write {SPEC_FORMS}")
    target, at, threshold_text = rest.rpartition("@") if "@" in rest else (rest, "", "")
    try:
        threshold = float(threshold_text) if at else None
    except ValueError as exc:
        raise ModelError(f"--compare {text!r}: threshold {threshold_text!r} is not a number") from exc
    return Spec(name, target, threshold)


def resolve_nli(path: Path | None) -> tuple[Path, Path]:
    """(version dir holding tokenizer + model.json, ONNX file) for a repository, a version dir, or an .onnx file."""
    if path is None:
        version_dir = model_dir(default_repository(), tensors.NLI_MODEL)
        return version_dir, version_dir / tensors.MODEL_FILE
    if path.suffix == ".onnx":
        if not path.is_file():
            raise RepositoryError(f"{path} not found")
        beside = path.parent if (path.parent / INFO_FILE).is_file() else None
        version_dir = beside or model_dir(default_repository(), tensors.NLI_MODEL)
        return version_dir, path
    if (path / tensors.MODEL_FILE).is_file():
        return path, path / tensors.MODEL_FILE
    version_dir = model_dir(path, tensors.NLI_MODEL)
    return version_dir, version_dir / tensors.MODEL_FILE


def load_configuration(spec: Spec, default_threshold: float = 0.5, threads: int = 0) -> Configuration:
    if is_served(spec.target):
        return served_configuration(spec.name, spec.target, spec.threshold, default_threshold)
    version_dir, onnx_file = resolve_nli(spec.path)
    info = read_info(version_dir)
    model = NliModel(open_session(onnx_file, threads), load_tokenizer(version_dir, info), info)
    threshold = default_threshold if spec.threshold is None else spec.threshold
    return Configuration(spec.name, model.score, threshold)
