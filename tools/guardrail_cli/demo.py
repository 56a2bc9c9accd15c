"""`guardrail demo`: the whole product on one machine (issue 9); the work is in `guardrail_demo.flow`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from guardrail_demo.flow import Options, run
from guardrail_devcluster.cluster import REPO_ROOT


@click.command()
@click.option("--once", is_flag=True, help="Exit (stopping everything the demo started) instead of waiting for Ctrl-C.")
@click.option("--local/--current-context", default=False, help="Always use the local control plane.")
@click.option("--namespace", default="default", show_default=True, help="Namespace of the demo's Guardrail.")
@click.option(
    "--cluster-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=REPO_ROOT / ".cluster",
    show_default=True,
    help="State folder of the local control plane.",
)
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Logs, configs and the embedded Qdrant of the demo's processes [default: <cluster-dir>/demo].",
)
@click.option(
    "--require-canary", is_flag=True, help="Fail (instead of warning) when the operator has no canary support."
)
@click.option("--strict", is_flag=True, help="Also fail when the models misjudge an answer, not only the product.")
def demo(
    once: bool,
    local: bool,
    namespace: str,
    cluster_dir: Path,
    work_dir: Path | None,
    require_canary: bool,
    strict: bool,
) -> None:
    """Run the guardrail product on this machine: operator, sidecar, models, knowledge base, canary."""
    options = Options(
        once=once,
        local=local,
        namespace=namespace,
        cluster_dir=cluster_dir.resolve(),
        work_dir=(work_dir or cluster_dir / "demo").resolve(),
        require_canary=require_canary,
        strict=strict,
    )
    sys.exit(run(options))
