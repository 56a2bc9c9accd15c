"""Calibrate the grounding score on development data and fold the calibration into the exported model.

The NLI graph ends in `score = sigmoid(sum(features * weights) + bias)` (the fusion layer, `nli_release`). Platt
scaling on top of it, `sigmoid(a * z + b)`, is the same graph with `weights * a` and `bias * a + b`: folding it into
those two initializers changes no operator, so the embedded scorer, Triton (python backend or onnxruntime) and
every client apply the calibration without knowing it exists. `model.json` records it (`extra.calibration`).

What is calibrated is the answer-level score the sidecar computes (each claim's best passage, the weakest claim:
`e2e.SIDECAR`), on the calibration split of `train_nli` (400 rows per task, never trained on, never dev), so a
score reads as the chance that the answer is grounded. A monotone map keeps every AUROC; it moves thresholds.

    python -m guardrail_models.e2e_eval --score-calibration --variants 0 --out e2e.json   # the sidecar's scores
    python -m guardrail_models.calibrate --e2e-report e2e.json --out calibration.json [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from guardrail_contract import tensors
from guardrail_models.e2e import SIDECAR, fit_logistic
from guardrail_models.manifest import write_manifest
from guardrail_models.metrics import reliability
from guardrail_models.repository import INFO_FILE, default_repository, model_dir, read_info

Array = npt.NDArray[np.float64]
FUSION_WEIGHTS, FUSION_BIAS = "weights", "bias"  # the fusion layer's initializers (`lexical.Fused`)


def logit(p: Array) -> Array:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return np.asarray(np.log(q / (1 - q)), dtype=np.float64)


def fit_platt(scores: Array, labels: Array) -> tuple[float, float]:
    """(a, b) of `sigmoid(a * logit(score) + b)`, maximum likelihood (lightly regularised)."""
    w = fit_logistic(logit(scores)[:, None], labels, l2=1e-3)
    return float(w[0]), float(w[1])


def apply_platt(scores: Array, a: float, b: float) -> Array:
    return np.asarray(1.0 / (1.0 + np.exp(-(a * logit(scores) + b))), dtype=np.float64)


def fold_into_graph(onnx_file: Path, a: float, b: float) -> None:
    """Rewrite the fusion initializers of `onnx_file` in place so its score is Platt-scaled by (a, b)."""
    import onnx  # type: ignore[import-not-found, unused-ignore]  # training venv only
    from onnx import numpy_helper  # type: ignore[import-not-found, unused-ignore]

    model = onnx.load(str(onnx_file))
    found = set()
    for index, init in enumerate(model.graph.initializer):
        if init.name in (FUSION_WEIGHTS, FUSION_BIAS):
            value = numpy_helper.to_array(init).astype(np.float64)
            value = value * a if init.name == FUSION_WEIGHTS else value * a + b
            new = numpy_helper.from_array(value.astype(np.float32), init.name)
            model.graph.initializer[index].CopyFrom(new)
            found.add(init.name)
    if found != {FUSION_WEIGHTS, FUSION_BIAS}:
        raise ValueError(f"{onnx_file}: no fusion layer ({FUSION_WEIGHTS}, {FUSION_BIAS}) to fold a calibration into")
    onnx.save(model, str(onnx_file))


def operating_report(e2e: dict[str, Any], a: float, b: float, sample: dict[str, Array] | None = None) -> dict[str, Any]:
    """On the dev scores of an `e2e_eval` report (the sidecar's rule), calibrated by (a, b): reliability before and
    after per task, and the operating point (`operating_point_of`) with what it blocks and flags per task. `sample`:
    per task, a mask of the dev answers in the committed sample (the test pins the point there too)."""
    raw = {t: np.array(v) for t, v in e2e["scores"][SIDECAR.name].items()}
    calibrated = {t: apply_platt(v, a, b) for t, v in raw.items()}
    labels = {t: np.array([1.0, 0.0] * (len(v) // 2)) for t, v in raw.items()}  # cases come as (right, hallucinated)
    out: dict[str, Any] = {"reliability": {}}
    for task in raw:
        out["reliability"][task] = {
            "before": reliability(labels[task], raw[task]),
            "after": reliability(labels[task], calibrated[task]),
        }
    groups = {t: (calibrated[t], labels[t]) for t in raw}
    for task, mask in (sample or {}).items():
        groups[f"{task} (committed sample)"] = (calibrated[task][mask], labels[task][mask])
    threshold, soft = operating_point_of({k: v[0] for k, v in groups.items()}, {k: v[1] for k, v in groups.items()})
    out["threshold"], out["soft_limit"] = threshold, soft
    out["per_task"] = {k: at_threshold_labels(y, v, threshold, soft) for k, (v, y) in groups.items()}
    out["uncalibrated_defaults_0.5_0.65"] = {t: at_threshold_labels(labels[t], raw[t], 0.5, 0.65) for t in raw}
    return out


def operating_point_of(scores: dict[str, Array], labels: dict[str, Array]) -> tuple[float, float]:
    """(threshold, softLimit), rounded down to 0.01: at most 5% of the grounded answers blocked on every task, at
    most 5% + the review budget blocked or flagged (`e2e_eval.TARGET_FALSE_BLOCK`, `REVIEW_BUDGET`)."""
    from guardrail_models.e2e_eval import REVIEW_BUDGET, TARGET_FALSE_BLOCK
    from guardrail_models.metrics import threshold_for_false_block

    def highest(rate: float) -> float:
        found = [threshold_for_false_block(labels[t], scores[t], rate)["threshold"] for t in scores]
        return float(np.floor(min(found) * 100) / 100)

    threshold = highest(TARGET_FALSE_BLOCK)
    return threshold, max(threshold, highest(TARGET_FALSE_BLOCK + REVIEW_BUDGET))


def at_threshold_labels(labels: Array, scores: Array, threshold: float, soft_limit: float) -> dict[str, float]:
    grounded, hallucinated = scores[labels == 1], scores[labels == 0]
    return {
        "grounded_blocked": float(np.mean(grounded < threshold)),
        "grounded_flagged": float(np.mean((grounded >= threshold) & (grounded < soft_limit))),
        "hallucinated_blocked": float(np.mean(hallucinated < threshold)),
        "hallucinated_flagged": float(np.mean((hallucinated >= threshold) & (hallucinated < soft_limit))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--e2e-report", type=Path, required=True, help="an e2e_eval report with --score-calibration")
    parser.add_argument("--repository", type=Path, default=None)
    parser.add_argument("--out", type=Path, required=True, help="report (JSON)")
    parser.add_argument("--halueval", type=Path, default=None, help="HaluEval folder (the length baseline)")
    parser.add_argument("--variants-report", type=Path, default=None, help="an e2e_eval report of every variant")
    parser.add_argument("--sample", type=Path, default=None, help="the committed dev sample (its rows must hold too)")
    parser.add_argument("--dry-run", action="store_true", help="fit and report only; write nothing to the model")
    parser.add_argument(
        "--defaults-only",
        action="store_true",
        help="the model keeps its calibration: choose the defaults on its scores (manifest `defaults`)",
    )
    args = parser.parse_args()
    repository = args.repository or default_repository()
    if args.defaults_only:
        choose_defaults(args, repository)
        return
    version_dir = model_dir(repository, tensors.NLI_MODEL)
    info = read_info(version_dir)
    if "calibration" in info.extra:
        raise SystemExit(f"{version_dir} is already calibrated ({info.extra['calibration']}); start from the release")
    e2e = json.loads(args.e2e_report.read_text())
    cal_scores = np.concatenate([np.array(v) for v in e2e["calibration_scores"].values()])
    cal_labels = np.concatenate([np.array([1.0, 0.0] * (len(v) // 2)) for v in e2e["calibration_scores"].values()])
    a, b = fit_platt(cal_scores, cal_labels)
    rows = e2e["calibration_rows_per_task"]
    fitted_on = f"train_nli calibration split ({rows} rows per task, both answers), the sidecar's weakest-claim score"
    sample = sample_masks(args.halueval, e2e["rows_per_task"], args.sample) if args.sample else None
    report: dict[str, Any] = {"a": a, "b": b, "fitted_on": fitted_on, **operating_report(e2e, a, b, sample)}
    print(json.dumps({k: v for k, v in report.items() if k != "reliability"}, indent=2))
    for task, values in report["reliability"].items():
        print(f"{task}: ECE {values['before']['ece']:.3f} -> {values['after']['ece']:.3f}")
    args.out.write_text(json.dumps(report, indent=2))
    if args.dry_run or not math.isfinite(a + b):
        return
    fold_into_graph(version_dir / tensors.MODEL_FILE, a, b)
    fact = {"method": "platt", "a": a, "b": b, "fitted_on": fitted_on, "level": "answer (weakest claim)"}
    (version_dir / INFO_FILE).write_text(replace(info, extra={**info.extra, "calibration": fact}).to_json())
    summary = {k: v for k, v in e2e.items() if k not in ("scores", "calibration_scores")}
    summary["length_only"] = length_only(args.halueval, e2e["rows_per_task"])
    updates = {"e2e": summary, "calibration": report}
    if args.variants_report is not None:
        sweep = json.loads(args.variants_report.read_text())
        sweep = {k: v for k, v in sweep.items() if k not in ("scores", "calibration_scores")}
        sweep["length_only"] = length_only(args.halueval, sweep["rows_per_task"])
        updates["e2e_variants"] = sweep
    write_manifest(repository.parent, updates)


def choose_defaults(args: argparse.Namespace, repository: Path) -> None:
    """The operating point on the shipped (calibrated) model's dev scores of an `e2e_eval` report, the committed
    sample's rows included, recorded as `defaults` in the manifest (with the sidecar's rule it was measured with)."""
    e2e = json.loads(args.e2e_report.read_text())
    scores = {t: np.array(v) for t, v in e2e["scores"][SIDECAR.name].items()}
    labels = {t: np.array([1.0, 0.0] * (len(v) // 2)) for t, v in scores.items()}
    groups = {t: (scores[t], labels[t]) for t in scores}
    if args.sample:
        for task, mask in sample_masks(args.halueval, e2e["rows_per_task"], args.sample).items():
            groups[f"{task} (committed sample)"] = (scores[task][mask], labels[task][mask])
    threshold, soft = operating_point_of({k: v[0] for k, v in groups.items()}, {k: v[1] for k, v in groups.items()})
    report = {
        "rule": SIDECAR.name,
        "rows_per_task": e2e["rows_per_task"],
        "threshold": threshold,
        "soft_limit": soft,
        "per_task": {k: at_threshold_labels(y, v, threshold, soft) for k, (v, y) in groups.items()},
    }
    print(json.dumps(report, indent=2))
    args.out.write_text(json.dumps(report, indent=2))
    if not args.dry_run:
        write_manifest(repository.parent, {"defaults": report})


def sample_masks(folder: Path | None, rows: int, sample_file: Path) -> dict[str, Array]:
    """Per task, which of the report's dev answers are in the committed sample (`e2e_eval.write_sample`)."""
    from guardrail_models.e2e_eval import load_cases, read_sample

    dev, _ = load_cases(folder, rows, calibration_rows=0)
    sample = read_sample(sample_file)
    out = {}
    for task, cases in dev.items():
        chosen = {(c.row, c.label) for c in sample.get(task, [])}
        out[task] = np.array([(c.row, c.label) in chosen for c in cases])
        if out[task].sum() != len(chosen):
            raise SystemExit(f"{sample_file}: {task} rows outside the report's first {rows} dev rows")
    return out


def length_only(folder: Path | None, rows: int) -> dict[str, Any]:
    """The length baseline on the same dev answers (shorter looks more grounded)."""
    from guardrail_models.e2e_eval import load_cases, task_metrics
    from guardrail_models.metrics import length_score

    dev, _ = load_cases(folder, rows, calibration_rows=0)
    return {t: task_metrics(cases, length_score([c.answer for c in cases]), False) for t, cases in dev.items()}


if __name__ == "__main__":
    main()
