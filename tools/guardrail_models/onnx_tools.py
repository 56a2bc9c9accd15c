"""Post-export steps shared by the build scripts: INT8 quantisation and a neutral tokenizer.json."""

from __future__ import annotations

import json
from pathlib import Path


def quantize_int8(fp32: Path, int8: Path) -> Path:
    """Dynamic INT8 quantisation (per-channel int8 weights, activations quantised at run time)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
    return int8


def neutral_tokenizer(source: Path, target: Path) -> Path:
    """Copy a tokenizer.json without fixed padding/truncation: clients set both from model.json."""
    data = json.loads(source.read_text())
    data["padding"] = None
    data["truncation"] = None
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    return target
