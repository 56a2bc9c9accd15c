"""Grounding quality of the committed NLI model on the committed dev set (allowed HaluEval dialogue rows).

    python bench/models_eval.py [--quick] [--fp32 PATH/TO/nli.fp32.onnx]

Ranks the INT8 model (and FP32 when given) against the length-only baseline with bootstrap CIs, and writes
bench/results/models_eval.json. Same numbers as `guardrail eval models/eval/halueval_dev.jsonl --json`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from guardrail_models.configs import Spec, load_configuration
from guardrail_models.evalset import read_jsonl
from guardrail_models.evaluation import length_run, rank, run
from guardrail_models.repository import default_repository

# where `python -m guardrail_models.train_nli` leaves the FP32 export (not committed: size budget)
DEFAULT_FP32 = Path.home() / ".cache" / "guardrail-train" / "build-full" / "nli.fp32.onnx"
RESULTS = Path(__file__).parent / "results" / "models_eval.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="first 120 pairs, 100 resamples")
    parser.add_argument("--fp32", type=Path, default=DEFAULT_FP32 if DEFAULT_FP32.is_file() else None)
    args = parser.parse_args()
    dataset = default_repository().parent / "eval" / "halueval_dev.jsonl"
    data = read_jsonl(dataset, limit=120 if args.quick else None)
    specs = [Spec("nli-int8", "", 0.5)] + ([Spec("nli-fp32", str(args.fp32), 0.5)] if args.fp32 else [])
    results = [run(load_configuration(spec), data, batch_size=1) for spec in specs] + [length_run(data)]
    ranking = rank(results, data.labels, samples=100 if args.quick else 1000, seed=0)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"dataset": dataset.name, "n": len(data), "ranking": ranking}, indent=2) + "\n")
    for row in ranking:
        low, high = row["auroc_ci"]
        print(f"{row['rank']}. {row['name']}: AUROC {row['auroc']:.3f} [{low:.3f}, {high:.3f}]")


if __name__ == "__main__":
    main()
