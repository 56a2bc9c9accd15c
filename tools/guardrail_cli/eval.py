"""`guardrail eval`: score a labelled JSONL set with one or more configurations and rank them."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any

import click
import numpy as np
from rich.console import Console
from rich.progress import Progress, TaskID
from rich.table import Table

from guardrail_contract.sidecar_config import Policy
from guardrail_models.configs import Spec, load_configuration, parse_spec
from guardrail_models.errors import ModelError
from guardrail_models.evalset import read_jsonl
from guardrail_models.evaluation import TARGET_FALSE_BLOCK, Configuration, Run, length_run, rank, run


def _advance(progress: Progress, task: TaskID, count: int) -> None:
    progress.advance(task, count)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.1%}"


def render_table(ranked: list[dict[str, Any]], title: str) -> Table:
    """One row per configuration, best AUROC first; `P(leader better)` is from paired bootstrap resamples.

    "false block" is the share of supported claims blocked at the configuration's threshold and "caught" the share
    of unsupported ones blocked there; "thr @ N% FB" is the highest threshold blocking at most N% of the supported
    claims and "caught @" what it blocks of the rest; ECE is the expected calibration error (0: a score of p means
    a p chance of being supported)."""
    target = ranked[0]["at_target_false_block"]["target"] if ranked else 0.05
    table = Table(title=title)
    columns = (
        "#",
        "configuration",
        "AUROC",
        "95% CI",
        "bal.acc",
        "threshold",
        "false block",
        "caught",
        f"thr @ {target:.0%} FB",
        f"caught @ {target:.0%} FB",
        "best thr",
        "ECE",
        "p50 ms",
        "p95 ms",
        "P(leader better)",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "configuration" else "right", no_wrap=True)
    for row in ranked:
        low, high = row["auroc_ci"]
        latency = row.get("latency_ms") or {}
        at_target = row["at_target_false_block"]
        table.add_row(
            str(row["rank"]),
            row["name"],
            _fmt(row["auroc"]),
            f"{_fmt(low)}-{_fmt(high)}",
            _fmt(row["balanced_accuracy"]),
            _fmt(row["threshold"]),
            _pct(row["false_block"]),
            _pct(row["caught"]),
            _fmt(at_target["threshold"]),
            _pct(at_target["caught"]),
            _fmt(row["best_threshold"]),
            _fmt(row["reliability"]["ece"]) if "reliability" in row else "-",
            _fmt(latency.get("p50"), 2),
            _fmt(latency.get("p95"), 2),
            f"{row['leader_wins_share']:.0%}" if "leader_wins_share" in row else "leader",
        )
    return table


def plot_curves(results: list[Run], ranked: list[dict[str, Any]], labels: np.ndarray, path: Path) -> None:
    """ROC curves (left) and reliability curves (right: mean score per bin against the share supported)."""
    try:
        import matplotlib  # type: ignore[import-not-found, unused-ignore]  # optional extra

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-not-found, unused-ignore]
    except ImportError as exc:
        raise click.ClickException("--plot needs matplotlib: pip install matplotlib") from exc
    figure, (roc, calibration) = plt.subplots(1, 2, figsize=(10, 5))
    for result in results:
        order = np.argsort(-result.scores, kind="stable")
        hits = labels[order]
        tpr = np.concatenate([[0.0], np.cumsum(hits) / max(hits.sum(), 1)])
        fpr = np.concatenate([[0.0], np.cumsum(1 - hits) / max((1 - hits).sum(), 1)])
        roc.plot(fpr, tpr, label=result.name)
    roc.plot([0, 1], [0, 1], linestyle=":", color="grey")
    roc.set_xlabel("false positive rate (hallucinations passed)")
    roc.set_ylabel("true positive rate (supported claims passed)")
    roc.set_title("ROC")
    roc.legend(loc="lower right")
    for row in ranked:
        if "reliability" not in row:
            continue
        bins = row["reliability"]["bins"]
        calibration.plot(
            [b["mean_score"] for b in bins],
            [b["positive_rate"] for b in bins],
            marker="o",
            label=f"{row['name']} (ECE {row['reliability']['ece']:.3f})",
        )
    calibration.plot([0, 1], [0, 1], linestyle=":", color="grey")
    calibration.set_xlabel("mean score in bin")
    calibration.set_ylabel("share supported")
    calibration.set_title("reliability")
    calibration.legend(loc="upper left")
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)


@click.command("eval")
@click.argument("dataset", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--compare",
    "specs",
    multiple=True,
    metavar="NAME=TARGET[@THR]",
    help="a configuration, repeatable: a model repository, version dir or .onnx file (embedded scorer), Triton or "
    "another v2 server (grpc://HOST:PORT, http://HOST:PORT), triton:[REPOSITORY] (a local Triton started for the "
    "run) or sidecar:CONFIG.yaml (the sidecar end to end); optional @THRESHOLD.",
)
@click.option(
    "--threshold",
    default=Policy().threshold,
    show_default=True,
    help="block below this score (default for each config; the policy's default threshold)",
)
@click.option("--limit", type=int, default=None, help="only the first N rows of the dataset")
@click.option("--batch-size", default=1, show_default=True, help="pairs per scorer call (latency is per pair)")
@click.option("--bootstrap", "samples", default=500, show_default=True, help="bootstrap resamples for the CIs")
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--target-false-block",
    type=click.FloatRange(0.0, 1.0),
    default=TARGET_FALSE_BLOCK,
    show_default=True,
    help="report, for each configuration, the highest threshold blocking at most this share of supported claims "
    "and the share of unsupported ones it blocks there",
)
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="write ROC and reliability curves (PNG)",
)
def eval_command(
    dataset: Path,
    specs: tuple[str, ...],
    threshold: float,
    limit: int | None,
    batch_size: int,
    samples: int,
    seed: int,
    target_false_block: float,
    as_json: bool,
    plot: Path | None,
) -> None:
    """Score DATASET (JSONL: premise, claim, label) and rank configurations with bootstrap CIs.

    Without --compare the default model repository is evaluated. The length-only baseline is always shown. For each
    configuration it prints what its threshold blocks, and the threshold for a requested false-block rate
    (--target-false-block) with what that catches; the JSON carries a reliability curve, --plot draws it.
    """
    console = Console(stderr=True)
    configurations: list[Configuration] = []
    try:
        data = read_jsonl(dataset, limit)
        for spec in [parse_spec(s) for s in specs] or [Spec("default", "", None)]:
            configurations.append(load_configuration(spec, threshold))
        results = []
        with Progress(console=console, transient=True, disable=as_json) as progress:
            for config in configurations:
                task = progress.add_task(f"scoring {config.name}", total=len(data))
                results.append(run(config, data, batch_size, functools.partial(_advance, progress, task)))
    except ModelError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        for config in configurations:
            if config.close is not None:
                config.close()
    results.append(length_run(data))
    ranked = rank(results, data.labels, samples, seed, target_false_block)
    if plot is not None:
        plot_curves(results, ranked, data.labels, plot)
    if as_json:
        click.echo(json.dumps({"dataset": str(dataset), "n": len(data), "ranking": ranked}, indent=2))
    else:
        out = Console()
        if not out.is_terminal:  # piped or captured: do not squeeze the table into 80 columns
            out = Console(width=220)
        out.print(render_table(ranked, f"{dataset.name}: {len(data)} pairs"))
