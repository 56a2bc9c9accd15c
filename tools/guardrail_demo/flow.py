"""The demo, step by step (issue 9): control plane, operator, local stand-ins, requests, canary, rollback.

`run(options)` returns the exit code: 0 when everything behaved as expected. Every process it started is
stopped on the way out, also after a failure, Ctrl-C or SIGTERM.
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from guardrail_contract.sidecar_config import SidecarConfig
from guardrail_demo import phases, prometheus, stack
from guardrail_demo.errors import DemoError
from guardrail_demo.kube import Kube
from guardrail_demo.report import Report
from guardrail_demo.sidecar_config import LocalEndpoints, local_config, overrides
from guardrail_demo.supervisor import Supervisor
from guardrail_demo.view import status_table
from guardrail_devcluster import build
from guardrail_devcluster.cluster import CRD_DIR, REPO_ROOT, LocalCluster

EXAMPLES = REPO_ROOT / "examples"
MODELS = REPO_ROOT / "models" / "repository"
NAME = "support-bot"


@dataclass(frozen=True)
class Options:
    once: bool = False
    local: bool = False
    namespace: str = "default"
    cluster_dir: Path = REPO_ROOT / ".cluster"
    work_dir: Path = REPO_ROOT / ".cluster" / "demo"
    require_canary: bool = False
    strict: bool = False


def current_context_reachable() -> bool:
    """True when a kubeconfig is configured and its API server answers."""
    kubectl = shutil.which("kubectl")
    configured = os.environ.get("KUBECONFIG") or Path("~/.kube/config").expanduser().exists()
    if not kubectl or not configured:
        return False
    probe = subprocess.run([kubectl, "version", "--request-timeout=3s"], capture_output=True, text=True)
    return probe.returncode == 0


class Demo:
    def __init__(self, options: Options, report: Report) -> None:
        self.o = options
        self.report = report
        self.sup = Supervisor(options.work_dir / "logs")
        self.ports = stack.Ports()
        self.cluster: LocalCluster | None = None
        self.cluster_started_here = False
        self.injection_model = (MODELS / "injection" / "1" / "model.onnx").exists()
        self.outcome = {"model shortfalls": "-", "changed revision": "not run", "bad revision": "not run"}

    def control_plane(self) -> Kube:
        r = self.report
        if not self.o.local and current_context_reachable():
            r.step("1. using the current kube context")
            return Kube("kubectl", os.environ)
        r.step("1. starting the local control plane (the first run builds Kubernetes from Go modules)")
        self.cluster = LocalCluster(self.o.cluster_dir)
        self.cluster_started_here = not self.cluster.is_running()
        started = time.monotonic()
        self.cluster.start()
        took = f"started in {time.monotonic() - started:.0f}s" if self.cluster_started_here else "already running"
        r.note(f"API server {self.cluster.server} ({took}); logs in {self.cluster.logs}")
        return Kube(str(build.binary("kubectl")), self.cluster.env)

    def install(self, kube: Kube) -> None:
        r, ns = self.report, self.o.namespace
        r.step("2. installing the Guardrail CRD and starting the operator (a local process, the chart's code)")
        kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_DIR))
        kube.kubectl("wait", "--for=condition=Established", "crd/guardrails.guardrails.dev", "--timeout=60s")
        if kube.kubectl("get", "namespace", ns, check=False).returncode != 0:
            kube.kubectl("create", "namespace", ns)
        operator = stack.start_operator(self.sup, kube.env, ns, self.ports.operator_metrics)
        if kube.guardrail(ns, NAME) is not None:  # deleted once the operator runs: kopf's finalizer
            r.note(f"deleting the {NAME} left from an earlier run, so the demo starts from its first revision")
            kube.kubectl("delete", "guardrail", NAME, "-n", ns, "--wait=true", "--timeout=60s", "--ignore-not-found")
        if not kube.has_default_storage_class():
            r.note("no default StorageClass (kwok has no provisioner): pre-binding a volume for Qdrant's claim")
            kube.ensure_volume(f"{ns}-{NAME}-qdrant", ns, f"storage-{NAME}-qdrant-0")
        r.note(f"operator running, watching namespace {ns}; metrics {operator.url}")

    def stand_ins(self) -> None:
        r, work = self.report, self.o.work_dir
        r.step("3. starting what kwok only pretends to run: NVIDIA Triton, knowledge base, LLM app")
        out = stack.ingest_kb(EXAMPLES / "kb", "support-facts", work / "qdrant", work / "logs" / "kb-ingest.log")
        live = next((line.strip() for line in out.splitlines() if line.strip().startswith("live:")), "ingested")
        r.note(f"knowledge base: examples/kb → embedded Qdrant {work / 'qdrant'} ({live})")
        triton = stack.start_triton(self.sup, MODELS, self.ports)
        r.note(f"{stack.TRITON_LABEL}, python backend on the CPU, serving models/repository: {triton.url}")
        if not self.injection_model:
            r.warn("models/repository has no injection model: the prompt-injection check is off")
        app = stack.start_app(self.sup, self.ports.app)
        r.note(f"scripted LLM app: {app.url}")

    def first_revision(self, target: phases.Target) -> str:
        self.report.step("4. applying examples/guardrail.yaml")
        revision = target.apply(self.report, EXAMPLES / "guardrail.yaml")
        guardrail = self.wait_for(target.kube, lambda s: s.get("stableRevision") == revision and _ready(s), 90)
        self.report.console.print(status_table(guardrail))
        return revision

    def wait_for(self, kube: Kube, done: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        guardrail = None
        while time.monotonic() < deadline:
            self.sup.check()
            guardrail = kube.guardrail(self.o.namespace, NAME)
            if guardrail is not None and done(guardrail.get("status") or {}):
                return guardrail
            time.sleep(0.5)
        ready = _condition((guardrail or {}).get("status") or {}, "Ready") or "no status"
        raise DemoError(f"{NAME} did not become Ready within {timeout:.0f}s: {ready} (logs: {self.sup.log_dir})")

    def sidecar(self, kube: Kube, revision: str) -> None:
        r = self.report
        r.step("5. starting the scoring sidecar from the revision ConfigMap the operator rendered")
        local = LocalEndpoints(
            triton_grpc=f"127.0.0.1:{self.ports.triton_grpc}",
            tokenizers=str(MODELS),
            qdrant_path=str(self.o.work_dir / "qdrant"),
            listen_port=self.ports.sidecar,
            upstream_port=self.ports.app,
            admin_port=self.ports.sidecar_admin,
        )
        config_path = self.o.work_dir / "sidecar.yaml"
        deadline = time.monotonic() + 30
        while (text := kube.rendered_sidecar_yaml(self.o.namespace, NAME, revision)) is None:
            if time.monotonic() > deadline:
                raise DemoError(f"the operator rendered no ConfigMap for revision {revision} within 30s")
            time.sleep(0.5)
        rendered = SidecarConfig.from_yaml(text)
        config_path.parent.mkdir(parents=True, exist_ok=True)
        config_path.write_text(local_config(rendered, local).to_yaml())
        r.note(f"read sidecar.yaml of ConfigMap {NAME}-config-{revision} → {config_path}")
        r.note("kwok runs no pods, so the sidecar's local overrides point the in-cluster endpoints at local processes:")
        table = Table("setting", "operator rendered", "demo's sidecar uses", box=None, padding=(0, 2))
        for row in overrides(rendered, local):
            table.add_row(*row)
        r.console.print(table)
        if rendered.watch is not None:
            r.note(f"the sidecar follows Guardrail {rendered.watch.namespace}/{rendered.watch.name}'s status itself")
        sidecar = stack.start_sidecar(self.sup, config_path, self.ports, kube.env)
        r.note(f"sidecar: {sidecar.url}")
        prom = stack.start_prometheus(self.sup, self.o.work_dir, self.ports)
        r.note(f"Prometheus scraping the sidecar, the operator and Triton every second: {prom.url}")

    def traffic(self, target: phases.Target, revision: str) -> None:
        r = self.report
        r.step("6. grounded, hallucinated and prompt-injection requests (JSON and streaming)")
        misses = phases.requests(r, target, revision, self.injection_model, self.o.strict)
        self.outcome["model shortfalls"] = str(misses)
        r.step("7. a changed revision (examples/guardrail-canary.yaml): canary 10 → 50 → 100, promoted")
        good = EXAMPLES / "guardrail-canary.yaml"
        self.outcome["changed revision"] = phases.rollout(r, target, self.sup, good, "promoted", self.o.require_canary)
        r.step("8. a bad revision (examples/guardrail-bad.yaml): automatic rollback")
        bad = EXAMPLES / "guardrail-bad.yaml"
        self.outcome["bad revision"] = phases.rollout(r, target, self.sup, bad, "rolled-back", self.o.require_canary)

    def triton_in_prometheus(self, models: tuple[str, ...] = ("nli", "embedding", "injection")) -> None:
        """Triton's own series, as Prometheus scraped them: successful inferences per model."""
        r = self.report
        r.step("9. Triton's metrics in Prometheus")
        url = f"http://127.0.0.1:{self.ports.prometheus}"
        deadline = time.monotonic() + 15  # one or two scrapes after the last request
        served: dict[str, float] = {}
        while time.monotonic() < deadline:
            result = prometheus.query(url, prometheus.TRITON_MODELS_QUERY)
            served = {str(s["metric"].get("model")): float(s["value"][1]) for s in result}
            if all(served.get(m, 0) > 0 for m in models if m != "injection" or self.injection_model):
                break
            time.sleep(1)
        r.note(f"{prometheus.TRITON_MODELS_QUERY}: " + ", ".join(f"{m} {v:.0f}" for m, v in sorted(served.items())))
        missing = [m for m in models if served.get(m, 0) <= 0 and (m != "injection" or self.injection_model)]
        if missing:
            r.fail(f"Prometheus holds no successful Triton inferences for {', '.join(missing)}")
        else:
            r.ok("Prometheus holds Triton's nv_inference_* series for every model the sidecar used")

    def instructions(self) -> None:
        r, ns = self.report, self.o.namespace
        r.step("running")
        env = f"source {self.cluster.env_file}   # KUBECONFIG and kubectl\n" if self.cluster else ""
        r.console.print(
            f"{env}kubectl get gr -n {ns}\n"
            f"kubectl guardrail rollout status {NAME} -n {ns}   # the plugin is .venv/bin/kubectl-guardrail\n"
            f"curl -s http://127.0.0.1:{self.ports.sidecar}/v1/chat/completions -H 'content-type: application/json' "
            '-d \'{"messages":[{"role":"user","content":"How long does standard shipping take?"}]}\'\n'
            f"sidecar metrics: http://127.0.0.1:{self.ports.sidecar_admin}/metrics\n"
            f"Prometheus:      http://127.0.0.1:{self.ports.prometheus}\n"
            f"Triton metrics:  http://127.0.0.1:{self.ports.triton_metrics}/metrics",
            highlight=False,
        )
        for name, url, log in self.sup.describe():
            r.note(f"{name:<11} {url:<60} log {log}")

    def summary(self) -> int:
        r = self.report
        r.step("summary")
        for what, result in self.outcome.items():
            r.note(f"{what}: {result}")
        if r.failures:
            r.verdict(False, f"demo FAILED: {len(r.failures)} problem(s)")
            for failure in r.failures:
                r.note(f"- {failure}")
            return 1
        r.verdict(True, "demo OK")
        return 0

    def stop(self) -> None:
        self.report.note(", ".join(self.sup.stop_all()) or "nothing was running")
        if self.cluster is not None and self.cluster_started_here:
            started = time.monotonic()
            self.cluster.stop()
            self.report.note(f"local control plane stopped in {time.monotonic() - started:.1f}s")


def run(options: Options, console: Console | None = None) -> int:
    """The whole demo; the exit code for `guardrail demo`."""
    if console is None:
        console = Console() if sys.stdout.isatty() else Console(width=140)  # logs and CI: no wrapping at 80
    demo = Demo(options, Report(console))
    with _interrupts() as stop:
        try:
            return _steps(demo, options, stop)
        except DemoError as exc:
            demo.report.verdict(False, f"demo FAILED: {exc}")
            return 1
        except KeyboardInterrupt:
            demo.report.verdict(False, "\ninterrupted")
            return 130
        finally:
            stop.set()  # from here on Ctrl-C and SIGTERM are ignored: cleaning up must finish
            demo.report.note("stopping every process the demo started")
            demo.stop()


def _steps(demo: Demo, options: Options, stop: threading.Event) -> int:
    started = time.monotonic()
    prometheus.find_binary()  # fail before starting anything when it is missing
    kube = demo.control_plane()
    demo.install(kube)
    demo.stand_ins()
    target = phases.Target(
        kube,
        options.namespace,
        NAME,
        f"http://127.0.0.1:{demo.ports.sidecar}",
        f"http://127.0.0.1:{demo.ports.prometheus}",
        inference=f"{stack.TRITON_LABEL} gRPC 127.0.0.1:{demo.ports.triton_grpc}, "
        f"metrics http://127.0.0.1:{demo.ports.triton_metrics}/metrics",
    )
    revision = demo.first_revision(target)
    demo.sidecar(kube, revision)
    demo.traffic(target, revision)
    demo.triton_in_prometheus()
    code = demo.summary()
    demo.report.note(f"wall time {time.monotonic() - started:.0f}s")
    if not options.once:
        demo.instructions()
        demo.report.step("everything keeps running; press Ctrl-C to stop it all")
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return code


def _ready(status: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def _condition(status: dict[str, Any], kind: str) -> str:
    """The message of the condition of that type (empty when absent)."""
    return next((str(c.get("message", "")) for c in status.get("conditions") or [] if c.get("type") == kind), "")


@contextlib.contextmanager
def _interrupts() -> Iterator[threading.Event]:
    """SIGTERM behaves like Ctrl-C (KeyboardInterrupt once; later signals are ignored while cleaning up)."""
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
