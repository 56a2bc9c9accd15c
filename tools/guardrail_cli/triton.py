"""`guardrail triton`: install NVIDIA Triton from PyPI (cached) and serve the project's models with it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from guardrail_models.errors import ModelError
from guardrail_models.python_backend import DEFAULT_SERVING, CpuServing
from guardrail_models.repository import default_repository
from guardrail_triton.errors import TritonError
from guardrail_triton.install import PYTRITON, SERVER_VERSION, ensure_installed
from guardrail_triton.server import Ports, launch


@click.group("triton")
def triton() -> None:
    """A real Triton Inference Server (CPU, python backend) for local runs, tests and benchmarks."""


@triton.command("install")
def install_command() -> None:
    """Install tritonserver and its model-side Python under ~/.cache/guardrail-operator (once per version)."""
    try:
        install = ensure_installed(echo=True)
    except TritonError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"tritonserver {SERVER_VERSION} ({PYTRITON}) ready: {install.binary}")


@triton.command("serve")
@click.option(
    "--repository",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="model repository to serve (default: the committed models/repository)",
)
@click.option("--http-port", default=8000, show_default=True)
@click.option("--grpc-port", default=8001, show_default=True)
@click.option("--metrics-port", default=8002, show_default=True)
@click.option(
    "--max-queue-delay-us",
    default=DEFAULT_SERVING.max_queue_delay_us,
    show_default=True,
    help="how long the dynamic batcher waits for more requests",
)
@click.option(
    "--threads", default=DEFAULT_SERVING.threads, show_default=True, help="onnxruntime intra-op threads per instance"
)
@click.option("--instances", default=DEFAULT_SERVING.instances, show_default=True, help="model instances per model")
@click.option(
    "--ragged/--no-ragged",
    default=DEFAULT_SERVING.ragged,
    show_default=True,
    help="let token inputs of different lengths share a batch (model.py pads them)",
)
def serve(
    repository: Path | None,
    http_port: int,
    grpc_port: int,
    metrics_port: int,
    max_queue_delay_us: int,
    threads: int,
    instances: int,
    ragged: bool,
) -> None:
    """Serve the python-backend flavour of a repository on 127.0.0.1 until SIGTERM/SIGINT.

    The process becomes `tritonserver` itself (exec), so signals and the exit status are the server's.
    """
    try:
        source = repository or default_repository()
        ports = Ports(http_port, grpc_port, metrics_port)
        serving = CpuServing(max_queue_delay_us, threads, instances, ragged)
        spec = launch(source, ports, serving, echo=True)
    except (TritonError, ModelError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"tritonserver {SERVER_VERSION}: http {ports.http_url}, grpc {ports.grpc_url}, metrics {ports.metrics_url}"
        f" (repository {spec.repository} from {source})",
        err=True,
    )
    sys.stderr.flush()
    os.execve(spec.install.binary, spec.argv, spec.env)  # noqa: S606 - our installed binary, argv built by launch
