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

from guardrail_models.configs import Spec, load_configuration, parse_spec
from guardrail_models.errors import ModelError
from guardrail_models.evalset import read_jsonl
from guardrail_models.evaluation import Configuration, Run, length_run, rank, run


def _advance(progress: Progress, task: TaskID, count: int) -> None:
    progress.advance(task, count)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def render_table(ranked: list[dict[str, Any]], title: str) -> Table:
    """One row per configuration, best AUROC first; `P(leader better)` is from paired bootstrap resamples."""
    table = Table(title=title)
    columns = (
        "#",
        "configuration",
        "AUROC",
        "95% CI",
        "bal.acc",
        "precision",
        "recall",
        "threshold",
        "best thr",
        "best bal.acc",
        "p50 ms",
        "p95 ms",
        "P(leader better)",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "configuration" else "right", no_wrap=True)
    for row in ranked:
        low, high = row["auroc_ci"]
        latency = row.get("latency_ms") or {}
        table.add_row(
            str(row["rank"]),
            row["name"],
            _fmt(row["auroc"]),
            f"{_fmt(low)}-{_fmt(high)}",
            _fmt(row["balanced_accuracy"]),
            _fmt(row["precision"]),
            _fmt(row["recall"]),
            _fmt(row["threshold"]),
            _fmt(row["best_threshold"]),
            _fmt(row["best_balanced_accuracy"]),
            _fmt(latency.get("p50"), 2),
            _fmt(latency.get("p95"), 2),
            f"{row['leader_wins_share']:.0%}" if "leader_wins_share" in row else "leader",
        )
    return table


def plot_roc(results: list[Run], labels: np.ndarray, path: Path) -> None:
    try:
        import matplotlib  # type: ignore[import-not-found, unused-ignore]  # optional extra

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-not-found, unused-ignore]
    except ImportError as exc:
        raise click.ClickException("--plot needs matplotlib: pip install matplotlib") from exc
    figure, axes = plt.subplots(figsize=(5, 5))
    for result in results:
        order = np.argsort(-result.scores, kind="stable")
        hits = labels[order]
        tpr = np.concatenate([[0.0], np.cumsum(hits) / max(hits.sum(), 1)])
        fpr = np.concatenate([[0.0], np.cumsum(1 - hits) / max((1 - hits).sum(), 1)])
        axes.plot(fpr, tpr, label=result.name)
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey")
    axes.set_xlabel("false positive rate (hallucinations passed)")
    axes.set_ylabel("true positive rate (supported claims passed)")
    axes.legend(loc="lower right")
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
@click.option("--threshold", default=0.5, show_default=True, help="block below this score (default for each config)")
@click.option("--limit", type=int, default=None, help="only the first N rows of the dataset")
@click.option("--batch-size", default=1, show_default=True, help="pairs per scorer call (latency is per pair)")
@click.option("--bootstrap", "samples", default=500, show_default=True, help="bootstrap resamples for the CIs")
@click.option("--seed", default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None, help="write ROC curves (PNG)")
def eval_command(
    dataset: Path,
    specs: tuple[str, ...],
    threshold: float,
    limit: int | None,
    batch_size: int,
    samples: int,
    seed: int,
    as_json: bool,
    plot: Path | None,
) -> None:
    """Score DATASET (JSONL: premise, claim, label) and rank configurations with bootstrap CIs.

    Without --compare the default model repository is evaluated. The length-only baseline is always shown.
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
    ranked = rank(results, data.labels, samples, seed)
    if plot is not None:
        plot_roc(results, data.labels, plot)
    if as_json:
        click.echo(json.dumps({"dataset": str(dataset), "n": len(data), "ranking": ranked}, indent=2))
    else:
        out = Console()
        if not out.is_terminal:  # piped or captured: do not squeeze the table into 80 columns
            out = Console(width=160)
        out.print(render_table(ranked, f"{dataset.name}: {len(data)} pairs"))
