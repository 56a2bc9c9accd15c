"""Latency of the committed scoring models on this CPU (onnxruntime, batch 1 and 16).

    python bench/models_latency.py [--quick] [--fp32 PATH/TO/nli.fp32.onnx]

FP32 is not committed (size budget); pass the file the training script builds to compare INT8 against it.
Writes bench/results/models_latency.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from guardrail_models.configs import Spec, load_configuration
from guardrail_models.evalset import read_jsonl
from guardrail_models.repository import default_repository
from guardrail_models.runtime import load_embedding, load_injection

# where `python -m guardrail_models.train_nli` leaves the FP32 export (not committed: size budget)
DEFAULT_FP32 = Path.home() / ".cache" / "guardrail-train" / "build-full" / "nli.fp32.onnx"
RESULTS = Path(__file__).parent / "results" / "models_latency.json"


def per_pair_ms(score: Callable[[list[Any]], object], pairs: Sequence[Any], batch: int) -> float:
    times = []
    for start in range(0, len(pairs), batch):
        chunk = pairs[start : start + batch]
        began = time.perf_counter()
        score(list(chunk))
        times.append((time.perf_counter() - began) * 1000.0 / len(chunk))
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--fp32", type=Path, default=DEFAULT_FP32 if DEFAULT_FP32.is_file() else None)
    args = parser.parse_args()
    data = read_jsonl(default_repository().parent / "eval" / "halueval_dev.jsonl", limit=64 if args.quick else 256)
    pairs = data.pairs
    configs = {"nli_int8": Spec("nli_int8", "", 0.5)}
    if args.fp32 is not None:
        configs["nli_fp32"] = Spec("nli_fp32", str(args.fp32), 0.5)
    scorers = {name: load_configuration(spec).scorer for name, spec in configs.items()}
    for scorer in scorers.values():
        scorer(pairs[:8])  # warm-up
    result: dict[str, object] = {"machine": platform.processor() or platform.machine(), "pairs": len(pairs)}
    for batch in (1, 16):
        timings = {name: per_pair_ms(s, pairs, batch) for name, s in scorers.items()}
        result[f"batch{batch}_ms_per_pair"] = timings
        if "nli_fp32" in timings:
            result[f"int8_over_fp32_batch{batch}"] = timings["nli_int8"] / timings["nli_fp32"]
    embedding, injection = load_embedding(), load_injection()
    texts = [claim for _, claim in pairs]
    result["embedding_ms_per_text_batch1"] = per_pair_ms(embedding.embed, texts, 1)
    result["injection_ms_per_text_batch1"] = per_pair_ms(injection.score, texts, 1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
