"""Markdown tables of the measured metrics in models/manifest.json (for docs/models.md).

python -m guardrail_models.report [--root models]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from guardrail_models.manifest import read_manifest
from guardrail_models.repository import default_repository

_GROUNDING_SCORERS = (
    ("nli_int8", "guardrail nli (ONNX INT8)"),
    ("nli_fp32", "guardrail nli (ONNX FP32)"),
    ("encoder_only", "ablation: encoder logit only (torch FP32)"),
    ("all_features", "ablation: encoder logit + lexical overlap (torch FP32)"),
    ("lexical_only", "ablation: lexical overlap features only"),
    ("length_only", "length only"),
    ("director_ai", "director-ai `score` (offline)"),
    ("director_ai_lite", "director-ai-lite `guard`"),
)


def _num(value: Any) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def grounding_table(manifest: dict[str, Any]) -> list[str]:
    metrics = manifest.get("nli", {}).get("metrics", {})
    director = manifest.get("director_ai", {}).get("grounding", {})
    lines = [
        "| task | scorer | AUROC all | bal. acc all | AUROC length-matched | bal. acc length-matched "
        "| right > twin (length-matched) | pairs (matched) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task, by_scorer in metrics.items():
        merged = {**by_scorer, **director.get(task, {})}
        for key, label in _GROUNDING_SCORERS:
            if key not in merged:
                continue
            everything, matched = merged[key]["all"], merged[key].get("length_matched", {})
            lines.append(
                f"| {task} | {label} | {_num(everything['auroc'])} | {_num(everything['balanced_accuracy'])} "
                f"| {_num(matched.get('auroc'))} | {_num(matched.get('balanced_accuracy'))} "
                f"| {_num(matched.get('win_rate'))} | {int(everything['n_pairs'])} ({int(matched.get('n_pairs', 0))}) |"
            )
    return lines


def unrelated_evidence_table(manifest: dict[str, Any]) -> list[str]:
    """Right answers against their own evidence and against another dev row's (a grounding model tells them apart)."""
    metrics = manifest.get("nli", {}).get("metrics", {})
    rows = {task: m["unrelated_evidence_int8"] for task, m in metrics.items() if "unrelated_evidence_int8" in m}
    if not rows:
        return []
    lines = [
        "| task | right answer passes (own evidence) | passes (another row's evidence) | passes (a system prompt only) "
        "| AUROC own vs another row's |",
        "|---|---|---|---|---|",
    ]
    for task, values in rows.items():
        lines.append(
            f"| {task} | {_num(values['own_pass_rate'])} | {_num(values['unrelated_pass_rate'])} "
            f"| {_num(values.get('system_prompt_pass_rate'))} | {_num(values['auroc_own_vs_unrelated'])} |"
        )
    return lines


def injection_table(manifest: dict[str, Any]) -> list[str]:
    report = manifest.get("injection", {})
    director = manifest.get("director_ai", {}).get("injection", {})
    lines = ["| test split | scorer | AUROC | recall at 1% FPR |", "|---|---|---|---|"]
    for corpus, by_scorer in report.get("test", {}).items():
        rows = [("guardrail injection head", by_scorer["model"]), ("length only", by_scorer["length_only"])]
        if corpus in director:
            rows.append(("director-ai `InputSanitizer`", director[corpus]))
        for label, values in rows:
            lines.append(f"| {corpus} | {label} | {_num(values['auroc'])} | {_num(values['recall_at_1pct_fpr'])} |")
    return lines


def latency_line(manifest: dict[str, Any]) -> str:
    latency = manifest.get("nli", {}).get("latency_ms_per_pair_batch1", {})
    if not latency:
        return ""
    return (
        f"NLI latency per pair at batch 1 (dialogue dev pairs, one run, interleaved): INT8 {latency['int8']:.1f} ms, "
        f"FP32 {latency['fp32']:.1f} ms, INT8/FP32 = {latency['int8_over_fp32']:.2f}."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=None)
    args = parser.parse_args()
    manifest = read_manifest(args.root or default_repository().parent)
    tables = [grounding_table(manifest), unrelated_evidence_table(manifest), injection_table(manifest)]
    print("\n".join([line for table in tables if table for line in [*table, ""]] + [latency_line(manifest)]))


if __name__ == "__main__":
    main()
