"""`guardrail-devcluster`: build, start and stop the local control plane."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from guardrail_devcluster import build
from guardrail_devcluster.cluster import REPO_ROOT, LocalCluster
from guardrail_devcluster.errors import DevClusterError
from guardrail_devcluster.realnode import NODE_NAME, RealNodeUnavailable

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
@click.option("--real-node", is_flag=True, help="Also build the real node's kubelet, kube-proxy, CoreDNS and crictl.")
def build_command(real_node: bool) -> None:
    """Build the binaries (cached under ~/.cache/guardrail-operator, keyed by version)."""
    build.ensure_built(real_node=real_node)
    for directory in build.bin_dirs(real_node=real_node):
        click.echo(directory)


@cli.command()
@_dir_option
@click.option(
    "--real-node",
    is_flag=True,
    help="Also run one real node (containerd, kubelet, kube-proxy, CoreDNS; root). Where the machine cannot, "
    "says why and starts the control plane alone.",
)
def up(directory: Path, real_node: bool) -> None:
    """Build if needed, start the control plane and write DIR/env (source it for KUBECONFIG and PATH)."""
    cluster = LocalCluster(directory, real_node=real_node)
    try:
        cluster.start()
    except RealNodeUnavailable as exc:
        click.echo(f"real node skipped: {exc}", err=True)
        cluster = LocalCluster(directory)
        cluster.start()
    click.echo(f"control plane ready at {cluster.server}")
    if cluster.real_node:
        click.echo(f"  real node {NODE_NAME} Ready; images: `make images REAL_NODE=1`")
    click.echo(f"  source {cluster.env_file}   # KUBECONFIG and the built kubectl/helm on PATH")


@cli.command()
@_dir_option
def down(directory: Path) -> None:
    """Stop every component started by `up` (a real node too, putting the host back as it was)."""
    problems = LocalCluster(directory).stop()
    for problem in problems:
        click.echo(f"warning: not restored: {problem}", err=True)
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
