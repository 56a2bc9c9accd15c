"""The python-backend flavour of the model repository: the same ONNX files, served by Triton on the CPU.

    <out>/<name>/config.pbtxt        backend "python", KIND_CPU, the contract tensors, dynamic batching
    <out>/<name>/<version>/model.py  runs model.onnx with onnxruntime (guardrail_operator/builders/triton_cpu_model.py)
    <out>/<name>/<version>/model.onnx, tokenizer.json, model.json   as in the production flavour

The production flavour (ONNX Runtime backend, on the GPU) stays what the operator renders by default; this one
loads in any Triton that has the python backend, such as the `tritonserver` of the `nvidia-pytriton` wheel.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from guardrail_contract import tensors
from guardrail_models.errors import RepositoryError
from guardrail_models.package import list_models
from guardrail_models.repository import CONFIG_FILE, INFO_FILE, ModelInfo, read_info, tensor_block
from guardrail_operator.builders.triton_cpu import CPU_MODEL_FILE, cpu_model_source

MODEL_PY = CPU_MODEL_FILE


@dataclass(frozen=True)
class CpuServing:
    """How Triton runs each model of the python-backend flavour. Defaults chosen by measurement
    (bench/triton_vs_embedded.py, results in docs/triton.md)."""

    # 2000 us made a lone pair 1.85x the embedded scorer's latency (0 us: 1.3x) and batched nothing more
    max_queue_delay_us: int = 0
    threads: int = 1  # onnxruntime intra-op threads per model instance
    # two instances: 16 concurrent clients got 292 pairs/s (one instance: 170), batch-1 latency unchanged
    instances: int = 2
    # ragged batches (token inputs of different lengths share a batch, model.py right-pads): average batch 4.8
    # instead of 1.0 under 16 clients, but no more pairs/s on the CPU (padding costs what batching saves)
    ragged: bool = False


DEFAULT_SERVING = CpuServing()


def model_py_source() -> str:
    """The text of the python-backend `model.py` (the one the operator renders for `spec.triton.device: cpu`)."""
    return cpu_model_source()


def render_python_config(info: ModelInfo, serving: CpuServing = DEFAULT_SERVING) -> str:
    """`config.pbtxt` for the python backend on the CPU, with the production flavour's tensors (pure).

    Outputs keep the `dims` clients see from the ONNX Runtime flavour (a per-item score is `[1]`), without
    `reshape`: the python model shapes its outputs itself. Each request is tokenised to its own length, and
    Triton's dynamic batcher only joins requests of equal shape unless `serving.ragged` allows otherwise.
    """
    preferred = [size for size in (4, 8, 16, 32, 64) if size <= info.max_batch_size]
    inputs = ",\n".join(tensor_block(t, reshape=False, ragged=serving.ragged) for t in info.inputs)
    return (
        f'name: "{info.name}"\n'
        'backend: "python"\n'
        f"max_batch_size: {info.max_batch_size}\n"
        f"input [\n{inputs}\n]\n"
        f"output [\n{tensor_block(info.output, reshape=False)}\n]\n"
        "dynamic_batching {\n"
        f"  preferred_batch_size: [ {', '.join(str(p) for p in preferred)} ]\n"
        f"  max_queue_delay_microseconds: {serving.max_queue_delay_us}\n"
        "}\n"
        "version_policy: { latest: { num_versions: 1 } }\n"
        f"instance_group [ {{ count: {serving.instances}, kind: KIND_CPU }} ]\n"
        f'parameters: {{ key: "intra_op_threads" value: {{ string_value: "{serving.threads}" }} }}\n'
    )


def _place(source: Path, target: Path, link: bool) -> None:
    if target.exists() and source.resolve() == target.resolve():  # re-rendering a repository in place
        return
    if target.is_symlink() or target.exists():
        target.unlink()
    if link:
        os.symlink(source.resolve(), target)
    else:
        shutil.copyfile(source, target)


def write_python_repository(
    source: Path,
    out: Path,
    serving: CpuServing = DEFAULT_SERVING,
    link: bool = False,
) -> list[tuple[str, int]]:
    """Write the python-backend flavour of every model of `source` into `out`; returns the (name, version)s.

    `link=True` symlinks the model files instead of copying them (a throw-away repository for a local server).
    """
    models = list_models(source)
    if not models:
        raise RepositoryError(f"{source} holds no model (expected <name>/config.pbtxt and <name>/1/model.json)")
    model_py = model_py_source()
    for name, version in models:
        version_dir = source / name / str(version)
        info = read_info(version_dir)
        target = out / name / str(version)
        target.mkdir(parents=True, exist_ok=True)
        for file in (tensors.MODEL_FILE, tensors.TOKENIZER_FILE, INFO_FILE):
            if (version_dir / file).is_file():
                _place(version_dir / file, target / file, link)
        (target / MODEL_PY).write_text(model_py)
        (out / name / CONFIG_FILE).write_text(render_python_config(info, serving))
    return models
