"""`guardrail-devcluster`: build, start and stop the local control plane."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from guardrail_devcluster import build
from guardrail_devcluster.cluster import REPO_ROOT, LocalCluster
from guardrail_devcluster.errors import DevClusterError

DEFAULT_DIR = REPO_ROOT / ".cluster"
_dir_option = click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    default=DEFAULT_DIR,
    show_default=True,
    help="Where the cluster keeps its state, certificates, kubeconfig and logs.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """A real local Kubernetes control plane (kube-apiserver, etcd, controller-manager, scheduler, kwok)."""


@cli.command("build")
def build_command() -> None:
    """Build the binaries (cached under ~/.cache/guardrail-operator, keyed by version)."""
    build.ensure_built()
    for directory in build.bin_dirs():
        click.echo(directory)


@cli.command()
@_dir_option
def up(directory: Path) -> None:
    """Build if needed, start the control plane and write DIR/env (source it for KUBECONFIG and PATH)."""
    cluster = LocalCluster(directory)
    cluster.start()
    click.echo(f"control plane ready at {cluster.server}")
    click.echo(f"  source {cluster.env_file}   # KUBECONFIG and the built kubectl/helm on PATH")


@cli.command()
@_dir_option
def down(directory: Path) -> None:
    """Stop every component started by `up`."""
    LocalCluster(directory).stop()
    click.echo("control plane stopped")


@cli.command()
@_dir_option
def status(directory: Path) -> None:
    """Exit 0 when the control plane in DIR is running and ready."""
    running = LocalCluster(directory).is_running()
    click.echo("running" if running else "not running")
    sys.exit(0 if running else 1)


def main() -> None:
    try:
        cli()
    except DevClusterError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
