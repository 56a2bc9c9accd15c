"""Layout of a Triton-ready model repository and the rendering of its `config.pbtxt`.

    <repository>/<name>/config.pbtxt
    <repository>/<name>/<version>/model.onnx
    <repository>/<name>/<version>/tokenizer.json     (token models only)
    <repository>/<name>/<version>/model.json         (ModelInfo: kind, max_length, tensors)

Triton ignores the extra files in the version folder; the embedded scorer and the sidecar (tokenizers) read them.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from guardrail_models.errors import RepositoryError

ModelKind = Literal["embedding", "nli", "injection", "classifier"]
INFO_FILE = "model.json"
CONFIG_FILE = "config.pbtxt"
REPOSITORY_ENV = "GUARDRAIL_MODEL_REPOSITORY"
_TRITON_DTYPES = {"INT64": "TYPE_INT64", "FP32": "TYPE_FP32"}


@dataclass(frozen=True)
class Tensor:
    """A named tensor without its batch dimension; `dims == []` means one value per batch item."""

    name: str
    dtype: Literal["INT64", "FP32"]
    dims: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class ModelInfo:
    """What a client needs beside the ONNX file: the contract tensors and the tokenisation settings."""

    name: str
    kind: ModelKind
    inputs: list[Tensor]
    output: Tensor
    max_length: int = 0  # 0: the model takes no tokens (a head on top of the embedding)
    precision: str = "int8"
    max_batch_size: int = 64
    extra: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> ModelInfo:
        raw = json.loads(text)
        try:
            return cls(
                name=raw["name"],
                kind=raw["kind"],
                inputs=[Tensor(**t) for t in raw["inputs"]],
                output=Tensor(**raw["output"]),
                max_length=int(raw.get("max_length", 0)),
                precision=str(raw.get("precision", "int8")),
                max_batch_size=int(raw.get("max_batch_size", 64)),
                extra=dict(raw.get("extra", {})),
            )
        except (KeyError, TypeError) as exc:
            raise RepositoryError(f"{INFO_FILE} is missing or has a malformed field: {exc}") from exc


def default_repository() -> Path:
    """The repository committed with the project (`models/repository`), or `$GUARDRAIL_MODEL_REPOSITORY`."""
    override = os.environ.get(REPOSITORY_ENV)
    path = Path(override) if override else Path(__file__).resolve().parents[2] / "models" / "repository"
    if not path.is_dir():
        raise RepositoryError(
            f"model repository {path} not found: set {REPOSITORY_ENV} to a folder laid out as "
            "<name>/config.pbtxt + <name>/1/model.onnx (see docs/models.md)"
        )
    return path


def model_dir(repository: Path, name: str, version: int = 1) -> Path:
    """The version folder of one model, checked to hold the ONNX file and its `model.json`."""
    path = repository / name / str(version)
    for required in ("model.onnx", INFO_FILE):
        if not (path / required).is_file():
            raise RepositoryError(f"{path / required} not found: package the model with `guardrail model package`")
    return path


def read_info(version_dir: Path) -> ModelInfo:
    return ModelInfo.from_json((version_dir / INFO_FILE).read_text())


def tensor_block(tensor: Tensor, reshape: bool = True, ragged: bool = False) -> str:
    """One `input`/`output` entry. `ragged`: requests of different lengths may share a batch (the model pads)."""
    dims = tensor.dims or [1]
    lines = [
        "  {",
        f'    name: "{tensor.name}"',
        f"    data_type: {_TRITON_DTYPES[tensor.dtype]}",
        f"    dims: [ {', '.join(str(d) for d in dims)} ]",
    ]
    if reshape and not tensor.dims:  # the ONNX tensor is [batch]; Triton wants at least one dim: reshape it away
        lines.append("    reshape: { shape: [ ] }")
    if ragged and -1 in tensor.dims:
        lines.append("    allow_ragged_batch: true")
    lines.append("  }")
    return "\n".join(lines)


def render_config(info: ModelInfo, max_queue_delay_us: int = 2000) -> str:
    """`config.pbtxt` for Triton's ONNX Runtime backend with dynamic batching (pure)."""
    preferred = [size for size in (4, 8, 16, 32, 64) if size <= info.max_batch_size]
    inputs = ",\n".join(tensor_block(t) for t in info.inputs)
    return (
        f'name: "{info.name}"\n'
        'platform: "onnxruntime_onnx"\n'
        f"max_batch_size: {info.max_batch_size}\n"
        f"input [\n{inputs}\n]\n"
        f"output [\n{tensor_block(info.output)}\n]\n"
        "dynamic_batching {\n"
        f"  preferred_batch_size: [ {', '.join(str(p) for p in preferred)} ]\n"
        f"  max_queue_delay_microseconds: {max_queue_delay_us}\n"
        "}\n"
        "version_policy: { latest: { num_versions: 1 } }\n"
        "instance_group [ { count: 1, kind: KIND_AUTO } ]\n"
    )
