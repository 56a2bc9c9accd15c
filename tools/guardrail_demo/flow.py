"""The demo, step by step (issue 9): control plane, operator, local stand-ins, requests, canary, rollback.

`run(options)` returns the exit code: 0 when everything behaved as expected. Every process it started is
stopped on the way out, also after a failure or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from guardrail_demo import manifests, stack
from guardrail_demo.canary import RolloutWatch
from guardrail_demo.errors import DemoError, ExpectationFailed
from guardrail_demo.follow import Follower
from guardrail_demo.kube import Kube
from guardrail_demo.scenarios import SCENARIOS
from guardrail_demo.sidecar_config import LocalEndpoints, overrides
from guardrail_demo.supervisor import Supervisor
from guardrail_demo.traffic import Outcome, TrafficLoop, send
from guardrail_demo.view import LiveView, status_table
from guardrail_devcluster import build
from guardrail_devcluster.cluster import CRD_DIR, REPO_ROOT, LocalCluster

EXAMPLES = REPO_ROOT / "examples"
NAME = "support-bot"
ROLLOUT_TIMEOUT = 150.0


@dataclass(frozen=True)
class Options:
    once: bool = False
    local: bool = False
    namespace: str = "default"
    cluster_dir: Path = REPO_ROOT / ".cluster"
    work_dir: Path = REPO_ROOT / ".cluster" / "demo"
    require_canary: bool = False


@dataclass
class Results:
    requests_ok: bool = False
    canary: str = "not run"
    rollback: str = "not run"
    failures: list[str] | None = None


def current_context_reachable() -> bool:
    """True when a kubeconfig is configured and its API server answers."""
    kubectl = shutil.which("kubectl")
    configured = os.environ.get("KUBECONFIG") or Path("~/.kube/config").expanduser().exists()
    if not kubectl or not configured:
        return False
    probe = subprocess.run([kubectl, "version", "--request-timeout=3s"], capture_output=True, text=True)
    return probe.returncode == 0


class Demo:
    def __init__(self, options: Options, console: Console) -> None:
        self.o = options
        self.console = console
        self.sup = Supervisor(options.work_dir / "logs")
        self.ports = stack.Ports()
        self.cluster: LocalCluster | None = None
        self.cluster_started_here = False
        self.follower: Follower | None = None
        self.failures: list[str] = []
        self.results = Results()
        self.injection_model = (REPO_ROOT / "models" / "repository" / "injection" / "1" / "model.onnx").exists()

    # -- output ------------------------------------------------------------------------------------------
    def step(self, message: str) -> None:
        self.console.print(f"\n[bold cyan]==> {message}[/]")

    def note(self, message: str) -> None:
        self.console.print(f"    {message}", highlight=False)

    def fail(self, message: str) -> None:
        self.failures.append(message)
        self.console.print(f"[bold red]    ✘ {message}[/]")

    def ok(self, message: str) -> None:
        self.console.print(f"[bold green]    ✔ {message}[/]")

    # -- steps -------------------------------------------------------------------------------------------
    def control_plane(self) -> Kube:
        if not self.o.local and current_context_reachable():
            self.step("1. using the current kube context")
            return Kube("kubectl", os.environ)
        self.step("1. starting the local control plane (the first run builds Kubernetes from Go modules)")
        self.cluster = LocalCluster(self.o.cluster_dir)
        self.cluster_started_here = not self.cluster.is_running()
        started = time.monotonic()
        self.cluster.start()
        self.note(f"API server {self.cluster.server} ({time.monotonic() - started:.0f}s); logs in {self.cluster.logs}")
        return Kube(str(build.binary("kubectl")), self.cluster.env)

    def install(self, kube: Kube) -> None:
        self.step("2. installing the Guardrail CRD and starting the operator (a local process, the chart's code)")
        kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_DIR))
        kube.kubectl("wait", "--for=condition=Established", "crd/guardrails.guardrails.dev", "--timeout=60s")
        if kube.kubectl("get", "namespace", self.o.namespace, check=False).returncode != 0:
            kube.kubectl("create", "namespace", self.o.namespace)
        operator = stack.start_operator(self.sup, kube.env, self.o.namespace, self.ports.operator_metrics)
        if kube.guardrail(self.o.namespace, NAME) is not None:  # deleted with the operator up: kopf's finalizer
            self.note(f"deleting the {NAME} left from an earlier run, so the demo starts from its first revision")
            kube.kubectl("delete", "guardrail", NAME, "-n", self.o.namespace, "--wait=true", "--timeout=60s")
        if self.cluster is not None:
            self.note("the local control plane has no volume provisioner: pre-binding a volume for Qdrant's claim")
            kube.ensure_volume(f"{self.o.namespace}-{NAME}-qdrant", self.o.namespace, f"storage-{NAME}-qdrant-0")
        self.note(f"operator running, watching namespace {self.o.namespace}; metrics {operator.url}")

    def stand_ins(self) -> None:
        self.step("3. starting what kwok only pretends to run: v2 inference server, knowledge base, LLM app")
        work = self.o.work_dir
        report = stack.ingest_kb(EXAMPLES / "kb", "support-facts", work / "qdrant", work / "logs" / "kb-ingest.log")
        live = next((line for line in report.splitlines() if line.startswith("live:")), "ingested")
        self.note(f"knowledge base: examples/kb → embedded Qdrant {work / 'qdrant'} ({live.strip()})")
        v2 = stack.start_v2server(self.sup, REPO_ROOT / "models" / "repository", self.ports)
        self.note(f"v2 inference server (stands in for Triton): {v2.url}")
        if not self.injection_model:
            self.note("[yellow]models/repository has no injection model: the prompt-injection check is off[/]")
        app = stack.start_app(self.sup, self.ports.app)
        self.note(f"scripted LLM app: {app.url}")

    def apply(self, kube: Kube, path: Path) -> str:
        manifest = manifests.localized(manifests.load(path), self.o.namespace, self.prometheus_url)
        self.note(f"$ kubectl apply -f {path.relative_to(REPO_ROOT)}")
        self.note(kube.apply(manifest))
        return manifests.revision(manifest)

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.prometheus}"

    def first_revision(self, kube: Kube) -> str:
        self.step("4. applying examples/guardrail.yaml")
        revision = self.apply(kube, EXAMPLES / "guardrail.yaml")
        guardrail = self.wait_for(kube, lambda s: s.get("stableRevision") == revision, 60, "its first revision")
        self.console.print(status_table(guardrail))
        return revision

    def wait_for(self, kube: Kube, done: Any, timeout: float, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sup.check()
            guardrail = kube.guardrail(self.o.namespace, NAME)
            if guardrail is not None and done(guardrail.get("status") or {}):
                return guardrail
            time.sleep(0.5)
        raise DemoError(f"the operator did not report {what} within {timeout:.0f}s (log: {self.sup.log_dir})")

    def sidecar(self, kube: Kube) -> None:
        self.step("5. starting the scoring sidecar from the revision ConfigMap the operator rendered")
        local = LocalEndpoints(
            triton_grpc=f"127.0.0.1:{self.ports.v2_grpc}",
            tokenizers=str(REPO_ROOT / "models" / "repository"),
            qdrant_path=str(self.o.work_dir / "qdrant"),
            listen_port=self.ports.sidecar,
            upstream_port=self.ports.app,
            admin_port=self.ports.sidecar_admin,
        )
        config_path = self.o.work_dir / "sidecar.yaml"
        self.follower = Follower(kube, self.o.namespace, NAME, local, config_path)
        deadline = time.monotonic() + 30
        while not self.follower.sync():
            if time.monotonic() > deadline:
                raise DemoError("the operator rendered no revision ConfigMap within 30s")
            time.sleep(0.5)
        routing = self.follower.routing
        assert routing is not None
        rendered = self.follower.revision(routing.stable)
        assert rendered is not None
        self.note(f"read ConfigMap {NAME}-config-{routing.stable} (sidecar.yaml, revision.yaml) → {config_path}")
        self.note("kwok runs no pods, so the in-cluster endpoints are rewritten to the local processes:")
        table = Table("setting", "operator rendered", "demo uses", box=None, padding=(0, 2))
        for row in overrides(rendered[1], local):
            table.add_row(*row)
        self.console.print(table)
        sidecar = stack.start_sidecar(self.sup, config_path, self.ports)
        self.note(f"sidecar: {sidecar.url}")
        self.follower.start()
        prom = stack.start_prometheus(self.sup, self.o.work_dir, self.ports)
        self.note(f"Prometheus scraping the sidecar every second: {prom.url}")

    def requests(self, kube: Kube) -> None:
        self.step("6. grounded, hallucinated and prompt-injection requests (JSON and streaming)")
        base = f"http://127.0.0.1:{self.ports.sidecar}"
        import httpx

        outcomes: list[Outcome] = []
        with httpx.Client(timeout=60) as client, LiveView(self.console) as view:
            for scenario in SCENARIOS:
                outcome = send(client, base, scenario)
                outcomes.append(outcome)
                view.add(outcome)
            view.set_status(kube.guardrail(self.o.namespace, NAME))
        wrong = [o for o in outcomes if o.verdict not in o.scenario.expected(self.injection_model)]
        for o in wrong:
            expected = "/".join(sorted(o.scenario.expected(self.injection_model)))
            self.fail(f"{o.scenario.name}: verdict {o.verdict}, expected {expected} {o.error}".rstrip())
        if not wrong:
            self.ok("every grounded answer passed, every hallucination and injection was blocked")
        self.results.requests_ok = not wrong

    def rollout(self, kube: Kube, path: Path, expect: str) -> str:
        stable = (kube.guardrail(self.o.namespace, NAME) or {}).get("status", {}).get("stableRevision", "")
        target = self.apply(kube, path)
        self.note(f"new revision {target} (stable {stable}); sending traffic while the operator rolls it out")
        watch = RolloutWatch(target, stable)
        base = f"http://127.0.0.1:{self.ports.sidecar}"
        view = LiveView(self.console, title=f"rollout of {target}")
        view.echo_outcomes = False
        traffic = TrafficLoop(base, SCENARIOS, view.add, workers=4, pause=0.0)
        deadline = time.monotonic() + ROLLOUT_TIMEOUT
        with view:
            traffic.start()
            try:
                while watch.result == "waiting" and time.monotonic() < deadline:
                    self.sup.check()
                    guardrail = kube.guardrail(self.o.namespace, NAME)
                    view.set_status(guardrail)
                    for line in watch.see((guardrail or {}).get("status") or {}):
                        view.say(f"    {time.strftime('%H:%M:%S')} {line}", style="bold")
                    time.sleep(0.5)
            finally:
                traffic.stop()
        self.console.print(status_table(kube.guardrail(self.o.namespace, NAME)))
        result = watch.result
        if result == "no-canary-support":
            message = (
                f"CANARY SUPPORT NOT ACTIVE: the operator promoted {target} directly (no status.canary appeared); "
                "the rollout state machine is not wired into its reconcile loop yet"
            )
            if self.o.require_canary:
                self.fail(message)
            else:
                self.console.print(f"[bold yellow]    ! {message}[/]")
        elif result == expect:
            reason = f": {watch.message}" if watch.message else ""
            self.ok(f"canary {target} went {watch.steps_shown()} and was {result}{reason}")
        else:
            self.fail(f"canary {target}: {result} after {watch.steps_shown()}, expected {expect} {watch.message}")
        return result

    def canaries(self, kube: Kube) -> None:
        self.step("7. a changed revision (examples/guardrail-canary.yaml): canary 10 → 50 → 100, promoted")
        self.results.canary = self.rollout(kube, EXAMPLES / "guardrail-canary.yaml", "promoted")
        self.step("8. a bad revision (examples/guardrail-bad.yaml): automatic rollback")
        self.results.rollback = self.rollout(kube, EXAMPLES / "guardrail-bad.yaml", "rolled-back")

    def instructions(self) -> None:
        self.step("running")
        env = f"source {self.cluster.env_file}   # KUBECONFIG and kubectl\n" if self.cluster else ""
        self.console.print(
            f"{env}kubectl get gr -n {self.o.namespace}\n"
            f"kubectl guardrail rollout status {NAME} -n {self.o.namespace}   # (.venv/bin on PATH)\n"
            f"curl -s http://127.0.0.1:{self.ports.sidecar}/v1/chat/completions -H 'content-type: application/json' "
            '-d \'{"messages":[{"role":"user","content":"How long does standard shipping take?"}]}\'\n'
            f"sidecar metrics: http://127.0.0.1:{self.ports.sidecar_admin}/metrics\n"
            f"Prometheus:      {self.prometheus_url}",
            highlight=False,
        )
        for name, url, log in self.sup.describe():
            self.note(f"{name:<11} {url:<60} log {log}")

    def stop(self) -> None:
        if self.follower is not None:
            self.follower.stop()
        self.sup.stop_all()
        if self.cluster is not None and self.cluster_started_here:
            self.cluster.stop()

    def summary(self) -> int:
        self.step("summary")
        self.note(f"requests as expected: {'yes' if self.results.requests_ok else 'no'}")
        self.note(f"changed revision: {self.results.canary}; bad revision: {self.results.rollback}")
        if self.failures:
            self.console.print(f"[bold red]demo FAILED: {len(self.failures)} problem(s)[/]")
            for failure in self.failures:
                self.note(f"- {failure}")
            return 1
        self.console.print("[bold green]demo OK[/]")
        return 0


def run(options: Options, console: Console | None = None) -> int:
    """The whole demo; the exit code for `guardrail demo`."""
    if console is None:
        console = Console() if sys.stdout.isatty() else Console(width=140)  # logs and CI: no wrapping at 80
    demo = Demo(options, console)
    started = time.monotonic()
    try:
        with _interrupts() as stop:
            kube = demo.control_plane()
            demo.install(kube)
            demo.stand_ins()
            demo.first_revision(kube)
            demo.sidecar(kube)
            demo.requests(kube)
            demo.canaries(kube)
            code = demo.summary()
            console.print(f"    wall time {time.monotonic() - started:.0f}s", highlight=False)
            if not options.once:
                demo.instructions()
                console.print("\n[bold]everything keeps running; press Ctrl-C to stop it all[/]")
                with contextlib.suppress(KeyboardInterrupt):
                    stop.wait()
            return code
    except (DemoError, ExpectationFailed) as exc:
        console.print(f"[bold red]demo FAILED: {exc}[/]")
        return 1
    except KeyboardInterrupt:
        console.print("\n[bold]interrupted[/]")
        return 130
    finally:
        console.print("stopping every process the demo started", highlight=False)
        demo.stop()


@contextlib.contextmanager
def _interrupts() -> Iterator[threading.Event]:
    """SIGTERM behaves like Ctrl-C; the event is set by either while waiting at the end."""
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            return
        stop.set()
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
