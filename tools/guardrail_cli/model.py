"""`guardrail model`: package models into a Triton-ready repository and verify checksums."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from guardrail_models.classifier import classifier_info
from guardrail_models.errors import ModelError
from guardrail_models.inspect_onnx import check_contract
from guardrail_models.manifest import verify, write_manifest
from guardrail_models.package import copy_repository, list_models, write_model
from guardrail_models.python_backend import write_python_repository
from guardrail_models.repository import default_repository, model_dir, read_info
from guardrail_models.specs import info_for

_KINDS = ("embedding", "injection", "nli", "classifier")  # classifier: a spec.detectors model


@click.group("model")
def model() -> None:
    """Package and verify scoring models (Triton-ready repository layout)."""


@model.command("package")
@click.option(
    "--from",
    "source",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="a repository to copy (default: the committed one, unless --onnx is given)",
)
@click.option(
    "--onnx",
    "onnx_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="your own ONNX model to package instead",
)
@click.option(
    "--tokenizer",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="its tokenizer.json (needed for nli and embedding; an injection model with one reads tokens)",
)
@click.option("--kind", type=click.Choice(_KINDS), default="nli", show_default=True)
@click.option("--name", default=None, help="model name in the repository (default: the kind)")
@click.option("--max-length", default=256, show_default=True, help="tokens per input (nli: evidence + claim)")
@click.option("--version", default=1, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="target repository")
@click.option(
    "--backend",
    type=click.Choice(["onnxruntime", "python"]),
    default="onnxruntime",
    show_default=True,
    help="onnxruntime: Triton's ONNX Runtime backend (production, GPU); python: a model.py running the same ONNX "
    "files with onnxruntime on the CPU (any Triton with the python backend, e.g. `guardrail triton serve`)",
)
def package(
    source: Path | None,
    onnx_file: Path | None,
    tokenizer: Path | None,
    kind: str,
    name: str | None,
    max_length: int,
    version: int,
    out: Path,
    backend: str,
) -> None:
    """Write a Triton-ready repository: copy one, or add your own ONNX + tokenizer with a rendered config.pbtxt."""
    try:
        if onnx_file is not None:
            info = (
                classifier_info(name or "classifier", max_length)
                if kind == "classifier"
                else info_for(kind, name, max_length, tokens=tokenizer is not None)
            )
            problems = check_contract(onnx_file, info)
            if problems:
                raise ModelError(f"{onnx_file} does not match the {kind} contract: " + "; ".join(problems))
            write_model(out, info, onnx_file, tokenizer, version)
            packaged = [(info.name, version)]
        else:
            packaged = copy_repository(source or default_repository(), out)
            for model_name, model_version in packaged:
                version_dir = model_dir(out, model_name, model_version)
                problems = check_contract(version_dir / "model.onnx", read_info(version_dir))
                if problems:
                    raise ModelError(f"{model_name}: " + "; ".join(problems))
        if backend == "python":
            write_python_repository(out, out)  # same files, python-backend config.pbtxt + model.py
    except ModelError as exc:
        raise click.ClickException(str(exc)) from exc
    write_manifest(out, {"packaged": [f"{n}/{v}" for n, v in list_models(out)]})
    for model_name, model_version in packaged:
        click.echo(f"packaged {model_name} v{model_version} → {out / model_name}")


@model.command("verify")
@click.option(
    "--root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="folder holding manifest.json (default: the committed models/); a packaged --out works too",
)
@click.option("--json", "as_json", is_flag=True)
def verify_command(root: Path | None, as_json: bool) -> None:
    """Check every model file against the sha256 checksums in manifest.json."""
    folder = root or default_repository().parent
    try:
        problems = verify(folder)
    except ModelError as exc:
        raise click.ClickException(str(exc)) from exc
    repository = folder / "repository" if (folder / "repository").is_dir() else folder
    models = list_models(repository)
    if as_json:
        click.echo(json.dumps({"root": str(folder), "models": models, "problems": problems}))
    else:
        table = Table(title=f"{folder}")
        table.add_column("model")
        table.add_column("version", justify="right")
        for model_name, model_version in models:
            table.add_row(model_name, str(model_version))
        Console().print(table)
        for problem in problems:
            click.echo(f"✗ {problem}", err=True)
    if problems:
        raise SystemExit(1)
    if not as_json:
        click.echo("✓ all files match the manifest")


@model.command("manifest")
@click.option(
    "--root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="folder to checksum (default: the committed models/)",
)
def manifest_command(root: Path | None) -> None:
    """Refresh the sha256 checksums in manifest.json after rebuilding models (keeps the recorded metrics)."""
    folder = root or default_repository().parent
    written = write_manifest(folder, {})
    click.echo(f"{len(written['files'])} files checksummed in {folder / 'manifest.json'}")
