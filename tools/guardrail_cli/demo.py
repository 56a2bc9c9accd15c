"""`guardrail demo`: the product on one machine.

Today it brings up a control plane (the current kube context when one answers, otherwise the local one from
`guardrail_devcluster`), installs the CRD, applies `examples/guardrail.yaml` and shows how the API server
sees it. It grows into the full demo (operator, sidecar, canary) as those parts land.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import click

from guardrail_devcluster import build
from guardrail_devcluster.cluster import CRD_DIR, REPO_ROOT, LocalCluster

EXAMPLE = REPO_ROOT / "examples" / "guardrail.yaml"


def _current_context_reachable() -> bool:
    """True when a kubeconfig is configured and its API server answers."""
    kubectl = shutil.which("kubectl")
    configured = os.environ.get("KUBECONFIG") or Path("~/.kube/config").expanduser().exists()
    if not kubectl or not configured:
        return False
    probe = subprocess.run([kubectl, "version", "--request-timeout=3s"], capture_output=True, text=True)
    return probe.returncode == 0


def _step(message: str) -> None:
    click.secho(f"==> {message}", fg="cyan", bold=True)


@click.command()
@click.option("--once", is_flag=True, help="Exit (and stop what the demo started) instead of waiting for Ctrl-C.")
@click.option("--local/--current-context", default=False, help="Always use the local control plane.")
def demo(once: bool, local: bool) -> None:
    """Run the guardrail product on this machine."""
    cluster: LocalCluster | None = None
    env = dict(os.environ)
    if not local and _current_context_reachable():
        _step("using the current kube context")
    else:
        _step("starting the local control plane (first run builds Kubernetes from Go modules)")
        cluster = LocalCluster(REPO_ROOT / ".cluster")
        started_here = not cluster.is_running()
        cluster.start()
        env = cluster.env
    kubectl = str(build.binary("kubectl")) if cluster else "kubectl"

    def run(*args: str) -> str:
        out = subprocess.run([kubectl, *args], env=env, capture_output=True, text=True, check=True).stdout
        click.echo(out.rstrip())
        return out

    _step("installing the Guardrail CRD")
    run("apply", "--server-side", "--force-conflicts", "-f", str(CRD_DIR))
    run("wait", "--for=condition=Established", "crd/guardrails.guardrails.dev", "--timeout=60s")
    _step(f"applying {EXAMPLE.relative_to(REPO_ROOT)}")
    run("apply", "-f", str(EXAMPLE))
    run("get", "guardrails", "-A")
    _step("the API server rejects an invalid Guardrail with a message naming the field")
    bad = EXAMPLE.read_text().replace("softLimit: 0.65", "softLimit: 0.3").replace("support-bot\n", "bad-bot\n", 1)
    rejected = subprocess.run([kubectl, "apply", "-f", "-"], input=bad, env=env, capture_output=True, text=True)
    click.echo(rejected.stderr.strip() or rejected.stdout.strip())
    if rejected.returncode == 0:
        raise click.ClickException("the invalid Guardrail was accepted: is the CRD installed with its validations?")
    if cluster:
        click.echo(f"\nsource {cluster.env_file}   # then: kubectl get gr; kubectl explain guardrail.spec")
    if once:
        if cluster and started_here:
            cluster.stop()
        return
    click.echo("running; press Ctrl-C to stop")
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    if cluster and started_here:
        cluster.stop()
