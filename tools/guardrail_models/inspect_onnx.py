"""Check an ONNX file against the scoring contract before it enters a repository."""

from __future__ import annotations

from pathlib import Path

from guardrail_models.errors import RepositoryError
from guardrail_models.repository import ModelInfo
from guardrail_models.runtime import open_session

_ORT_TYPES = {"tensor(int64)": "INT64", "tensor(float)": "FP32"}


def signature(
    onnx_file: Path,
) -> tuple[dict[str, tuple[str, list[int | str]]], dict[str, tuple[str, list[int | str]]]]:
    """({input: (dtype, shape)}, {output: (dtype, shape)}) as onnxruntime reports them."""
    try:
        session = open_session(onnx_file, threads=1)
    except Exception as exc:  # onnxruntime raises its own untyped errors; translate at the boundary
        raise RepositoryError(f"{onnx_file} does not load in onnxruntime: {exc}") from exc

    def read(args: list[object]) -> dict[str, tuple[str, list[int | str]]]:
        found: dict[str, tuple[str, list[int | str]]] = {}
        for arg in args:
            name, dtype, shape = getattr(arg, "name", ""), str(getattr(arg, "type", "")), getattr(arg, "shape", [])
            found[str(name)] = (_ORT_TYPES.get(dtype, dtype), list(shape))
        return found

    return read(session.get_inputs()), read(session.get_outputs())


def check_contract(onnx_file: Path, info: ModelInfo) -> list[str]:
    """Problems between the ONNX file's tensors and what `info` (the contract) promises; empty when it fits."""
    inputs, outputs = signature(onnx_file)
    problems = []
    for tensor in info.inputs:
        if tensor.name not in inputs:
            problems.append(f"input {tensor.name!r} missing (the file has {sorted(inputs)})")
        elif inputs[tensor.name][0] != tensor.dtype:
            problems.append(f"input {tensor.name!r} is {inputs[tensor.name][0]}, the contract says {tensor.dtype}")
    extra = sorted(set(inputs) - {t.name for t in info.inputs})
    if extra:
        problems.append(f"inputs {extra} are not in the contract")
    output = info.output
    if output.name not in outputs:
        problems.append(f"output {output.name!r} missing (the file has {sorted(outputs)})")
    else:
        dtype, shape = outputs[output.name]
        if dtype != output.dtype:
            problems.append(f"output {output.name!r} is {dtype}, the contract says {output.dtype}")
        if len(shape) != 1 + len(output.dims):
            problems.append(f"output {output.name!r} has rank {len(shape)}, the contract says {1 + len(output.dims)}")
    return problems
