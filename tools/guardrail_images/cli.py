"""`guardrail-images`: build the project's images without Docker, and load them into the real node."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from .build import build_archive
from .errors import ImageError, ImagePrerequisiteError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Images for the operator, the sidecar, CPU Triton and the pod sandbox (cached by a hash of their inputs)."""


@cli.command()
@click.option("--load", is_flag=True, help="Import them into the real node of `make cluster REAL_NODE=1`.")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    default=None,
    help="The cluster directory whose real node gets them (default: .cluster).",
)
def build(load: bool, directory: Path | None) -> None:
    """Build (or reuse) every image; print the OCI archive's path."""
    started = time.monotonic()
    archive = build_archive()
    click.echo(f"{archive}  ({time.monotonic() - started:.0f}s)")
    if load:
        from guardrail_devcluster.cli import DEFAULT_DIR
        from guardrail_devcluster.realnode import RealNode

        node = RealNode(directory or DEFAULT_DIR)
        if not node.is_running():
            raise ImageError("no real node is running: `make cluster REAL_NODE=1` first")
        node.import_images(archive)
        click.echo(f"loaded into {node.containerd_address}")


def main() -> None:
    try:
        cli()
    except ImagePrerequisiteError as exc:
        click.echo(f"skipped: {exc}", err=True)
        sys.exit(3)
    except ImageError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
