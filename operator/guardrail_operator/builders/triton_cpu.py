"""The python backend's `model.py` for Triton on the CPU (`spec.triton.device: cpu`, `guardrail triton serve`).

Its source is `triton_cpu_model.py` in this package: a file Triton runs, never imported here.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

CPU_MODEL_FILE = "model.py"


@cache
def cpu_model_source() -> str:
    """The text of the python-backend `model.py` (the same for every model: it reads its tensors from ONNX)."""
    return resources.files("guardrail_operator.builders").joinpath("triton_cpu_model.py").read_text()
