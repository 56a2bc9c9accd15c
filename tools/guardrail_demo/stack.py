"""The local processes standing in for what kwok only pretends to run, plus the operator itself.

Every process is started through the `Supervisor` (its log under `<work>/logs/`), on free loopback ports.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from guardrail_demo import prometheus
from guardrail_demo.errors import DemoError
from guardrail_demo.supervisor import Managed, Supervisor, http_ok
from guardrail_devcluster.cluster import free_port
from guardrail_triton import server as triton
from guardrail_triton.errors import TritonError
from guardrail_triton.install import SERVER_VERSION

PYTHON = sys.executable
BIN = Path(sys.executable).parent


@dataclass
class Ports:
    operator_metrics: int = field(default_factory=free_port)
    triton_http: int = field(default_factory=free_port)
    triton_grpc: int = field(default_factory=free_port)
    triton_metrics: int = field(default_factory=free_port)
    app: int = field(default_factory=free_port)
    sidecar: int = field(default_factory=free_port)
    sidecar_admin: int = field(default_factory=free_port)
    prometheus: int = field(default_factory=free_port)


def start_operator(sup: Supervisor, env: Mapping[str, str], namespace: str, port: int) -> Managed:
    """The operator, the same code the chart deploys, watching the demo's namespace."""
    operator_env = {
        **env,
        "GUARDRAIL_WATCH_NAMESPACES": namespace,
        "GUARDRAIL_LEADER_ELECTION": "false",
        "GUARDRAIL_METRICS_HOST": "127.0.0.1",
        "GUARDRAIL_METRICS_PORT": str(port),
        "GUARDRAIL_RESYNC_SECONDS": "2",  # the demo's rollout steps are seconds long
    }
    url = f"http://127.0.0.1:{port}"
    return sup.start(
        "operator",
        [PYTHON, "-m", "guardrail_operator.main"],
        lambda: http_ok(f"{url}/healthz"),
        env=operator_env,
        url=f"{url}/metrics",
    )


TRITON_LABEL = f"Triton {SERVER_VERSION} (real)"  # what the live view says serves the models


def start_triton(sup: Supervisor, repository: Path, ports: Ports) -> Managed:
    """NVIDIA Triton (`tritonserver` of the nvidia-pytriton wheel, installed and cached on first use) serving the
    python-backend flavour of the project's models on the CPU: kwok runs no Triton pod, so this is the one."""
    triton_ports = triton.Ports(ports.triton_http, ports.triton_grpc, ports.triton_metrics)
    try:
        spec = triton.launch(repository, triton_ports, echo=True)
    except TritonError as exc:
        raise DemoError(f"Triton could not be installed or prepared: {exc}") from exc
    return sup.start(
        "triton",
        spec.argv,
        lambda: http_ok(triton_ports.ready_url),
        env=spec.env,
        timeout=180,
        grace=15.0,
        url=f"http://{triton_ports.http_url} (gRPC {triton_ports.grpc_url}, metrics {triton_ports.metrics_url})",
    )


def start_app(sup: Supervisor, port: int) -> Managed:
    url = f"http://127.0.0.1:{port}"
    return sup.start(
        "llm-app",
        [PYTHON, "-m", "guardrail_demo.llm_app", "--port", str(port)],
        lambda: http_ok(f"{url}/healthz"),
        url=url,
    )


def start_sidecar(sup: Supervisor, config: Path, ports: Ports, env: Mapping[str, str]) -> Managed:
    """The sidecar; `env` carries KUBECONFIG, with which it follows the Guardrail's status."""
    admin = f"http://127.0.0.1:{ports.sidecar_admin}"
    return sup.start(
        "sidecar",
        [PYTHON, "-m", "guardrail_sidecar", "--config", str(config)],
        lambda: http_ok(f"{admin}/readyz"),
        env=env,
        grace=3.0,  # with `watch` it does not exit on SIGTERM yet (its blocking API watch thread is joined)
        timeout=180,
        url=f"http://127.0.0.1:{ports.sidecar} (admin {admin})",
    )


def start_prometheus(sup: Supervisor, work: Path, ports: Ports) -> Managed:
    binary = prometheus.find_binary()
    config_file = work / "prometheus.yml"
    config_file.write_text(
        prometheus.config(
            f"127.0.0.1:{ports.sidecar_admin}",
            f"127.0.0.1:{ports.operator_metrics}",
            triton_metrics=f"127.0.0.1:{ports.triton_metrics}",
        )
    )
    data = work / "prometheus-data"
    shutil.rmtree(data, ignore_errors=True)  # a fresh TSDB: revision hashes repeat across runs
    url = f"http://127.0.0.1:{ports.prometheus}"
    return sup.start(
        "prometheus",
        prometheus.command(binary, config_file, data, ports.prometheus),
        lambda: http_ok(f"{url}/-/ready"),
        url=url,
    )


def ingest_kb(kb_dir: Path, collection: str, qdrant_path: Path, log: Path) -> str:
    """`guardrail kb ingest` of the bundled example into the embedded Qdrant folder; its report."""
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(BIN / "guardrail"),
        "kb",
        "ingest",
        str(kb_dir),
        "--collection",
        collection,
        "--qdrant-path",
        str(qdrant_path),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    log.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise DemoError(f"knowledge base ingestion failed (log: {log}):\n{result.stderr[-2000:]}")
    return result.stdout
