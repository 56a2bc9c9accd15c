"""Start and stop a real local control plane as loopback processes.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (fake nodes that make pods Ready),
each a child process with its log under `<dir>/logs/`. State (ports, pids) is kept in `<dir>/state.json`, so
`down` from another process stops what `up` started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from guardrail_devcluster import build
from guardrail_devcluster.errors import CommandError, StartupError
from guardrail_devcluster.nodes import node_manifests
from guardrail_devcluster.pki import Pki, ensure_pki
from guardrail_devcluster.realnode import FAKE_TAINT, NODE_IP, NODE_NAME, RealNode, preflight

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = REPO_ROOT / "crds"
_AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "None", "verbs": ["get", "list", "watch"]},
        {"level": "None", "resources": [{"group": "coordination.k8s.io", "resources": ["leases"]}]},
        {"level": "None", "resources": [{"group": "", "resources": ["events"]}]},
        {"level": "Metadata"},
    ],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class State:
    """What a running control plane needs to be found and stopped again."""

    ports: dict[str, int] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalCluster:
    """A control plane rooted in one directory (`.cluster/` for `make cluster`, a temp dir for tests)."""

    def __init__(self, root: Path, *, real_node: bool = False) -> None:
        self.root = root.resolve()
        self.real_node = real_node
        self.node = RealNode(self.root)
        self.pki = Pki(self.root / "pki")
        self.kubeconfig = self.root / "kubeconfig"
        self.logs = self.root / "logs"
        self.audit_log = self.logs / "audit.log"
        self.env_file = self.root / "env"
        self._state_file = self.root / "state.json"

    # -- state ---------------------------------------------------------------------------------------------
    def state(self) -> State:
        if not self._state_file.exists():
            return State()
        return State(**json.loads(self._state_file.read_text()))

    def _save(self, state: State) -> None:
        self._state_file.write_text(json.dumps(asdict(state), indent=2))

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.state().ports['apiserver']}"

    @property
    def env(self) -> dict[str, str]:
        """Environment for tools and tests: KUBECONFIG, and the built kubectl and helm first on PATH."""
        path = os.pathsep.join([*(str(d) for d in build.bin_dirs()), os.environ.get("PATH", "")])
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PATH": path}

    def is_running(self) -> bool:
        state = self.state()
        if not state.pids or not all(_alive(p) for p in state.pids.values()):
            return False
        return self._apiserver_ready()

    # -- commands ------------------------------------------------------------------------------------------
    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run the built kubectl against this cluster."""
        cmd = [str(build.binary("kubectl")), *args]
        result = subprocess.run(cmd, env=self.env, input=input, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise CommandError(cmd, result.returncode, result.stdout, result.stderr)
        return result

    def helm(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run the built helm against this cluster."""
        cmd = [str(build.binary("helm")), *args]
        result = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise CommandError(cmd, result.returncode, result.stdout, result.stderr)
        return result

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self, timeout: float = 120) -> None:
        """Build if needed, start every component, register kwok nodes, install the CRDs; with `real_node`, also
        start the real node (RealNodeUnavailable, before anything starts, where the machine cannot run one)."""
        if self.is_running():
            return
        self.stop()
        if self.real_node:
            preflight()
        build.ensure_built(real_node=self.real_node)
        self.root.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        ensure_pki(self.pki.dir)
        state = State(ports={n: free_port() for n in ("etcd", "etcd-peer", "apiserver", "kcm", "scheduler", "kwok")})
        self._save(state)
        self._write_kubeconfig(state.ports["apiserver"])
        deadline = time.monotonic() + timeout
        try:
            if self.real_node:
                self.node.prepare_host()
            self._spawn(state, "etcd", self._etcd_args(state))
            self._wait("etcd", deadline, lambda: self._http_ok(f"http://127.0.0.1:{state.ports['etcd']}/health"))
            self._spawn(state, "kube-apiserver", self._apiserver_args(state))
            self._wait("kube-apiserver", deadline, self._apiserver_ready)
            # CRDs go in before the controller-manager starts, so its garbage collector watches Guardrails from
            # the start rather than after its next discovery resync.
            if CRD_DIR.is_dir():
                self.kubectl("apply", "--server-side", "-f", str(CRD_DIR))
                # `kubectl wait` errors on a CRD whose status has no conditions yet: poll instead.
                self._wait("CRDs Established", deadline, self._crds_established)
            self._spawn(state, "kube-controller-manager", self._kcm_args(state))
            self._spawn(state, "kube-scheduler", self._scheduler_args(state))
            self._spawn(state, "kwok", self._kwok_args(state))
            self.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(node_manifests()))
            self._wait("kwok nodes", deadline, self._nodes_ready)
            self._wait("default service account", deadline, self._default_sa_exists)
            if self.real_node:
                self._start_real_node(deadline + 120)
        except BaseException:
            self.stop()
            raise
        self.env_file.write_text(
            f"export KUBECONFIG={self.kubeconfig}\n"
            f"export PATH={os.pathsep.join(str(d) for d in build.bin_dirs(real_node=self.real_node))}:$PATH\n"
        )

    def _start_real_node(self, deadline: float) -> None:
        """The real node's processes, then wait until it is Ready; kwok's nodes get a NoSchedule taint, so
        pods without a toleration run for real."""
        for name in (n["metadata"]["name"] for n in node_manifests()):
            taint = f"{FAKE_TAINT['key']}={FAKE_TAINT['value']}:{FAKE_TAINT['effect']}"
            self.kubectl("taint", "node", name, taint, "--overwrite")
        self.node.start(free_port, timeout=max(30.0, deadline - time.monotonic()))
        self._wait(f"node {NODE_NAME} Ready", deadline, self._real_node_ready)

    def _real_node_ready(self) -> bool:
        out = self.kubectl("get", "node", NODE_NAME, "-o", "json", check=False)
        if out.returncode != 0:
            return False
        conditions = json.loads(out.stdout).get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def stop(self) -> list[str]:
        """Stop every component (SIGTERM, then SIGKILL after 10 s); leaves the directory for inspection. A real
        node goes first and puts the host back as it was; returns what could not be put back."""
        problems = self.node.stop()
        state = self.state()
        for name in reversed(list(state.pids)):
            pid = state.pids[name]
            if _alive(pid):
                try:
                    os.killpg(pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        deadline = time.monotonic() + 10
        for pid in state.pids.values():
            while _alive(pid) and time.monotonic() < deadline:
                _reap(pid)
                time.sleep(0.1)
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                _reap(pid)
        if state.pids:
            self._save(State(ports=state.ports))
            _wait_ports_closed(state.ports.values(), time.monotonic() + 10)
        return problems

    # -- internals -----------------------------------------------------------------------------------------
    def _spawn(self, state: State, name: str, args: Sequence[str]) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [str(build.binary(name if name != "etcd" else "etcd")), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.root,
        )
        log.close()
        state.pids[name] = proc.pid
        self._save(state)

    def _wait(self, what: str, deadline: float, ready: Callable[[], bool]) -> None:
        while time.monotonic() < deadline:
            for name, pid in self.state().pids.items():
                if not _alive(pid) or _reaped(pid):
                    raise StartupError(f"{name} exited during start-up; see {self.logs / (name + '.log')}")
            if ready():
                return
            time.sleep(0.25)
        raise StartupError(f"timed out waiting for {what}; logs are in {self.logs}")

    def _http_ok(self, url: str, **kwargs: Any) -> bool:
        try:
            return httpx.get(url, timeout=2, **kwargs).status_code == 200
        except httpx.HTTPError:
            return False

    def _apiserver_ready(self) -> bool:
        port = self.state().ports.get("apiserver")
        if port is None or not self.pki.admin_cert.exists():
            return False
        import ssl

        ctx = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        ctx.load_cert_chain(str(self.pki.admin_cert), str(self.pki.admin_key))
        return self._http_ok(f"https://127.0.0.1:{port}/readyz", verify=ctx)

    def _nodes_ready(self) -> bool:
        out = self.kubectl("get", "nodes", "-o", "json", check=False)
        if out.returncode != 0:
            return False
        items = json.loads(out.stdout)["items"]
        ready = [
            n
            for n in items
            if any(c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", []))
            and not any(t["key"] == "node.kubernetes.io/not-ready" for t in n["spec"].get("taints", []))
        ]
        return len(items) > 0 and len(ready) == len(items)

    def _crds_established(self) -> bool:
        out = self.kubectl("get", "crd", "-o", "json", check=False)
        if out.returncode != 0:
            return False
        return all(
            any(
                c["type"] == "Established" and c["status"] == "True"
                for c in (crd.get("status") or {}).get("conditions") or []
            )
            for crd in json.loads(out.stdout)["items"]
        )

    def _default_sa_exists(self) -> bool:
        return self.kubectl("get", "serviceaccount", "default", "-n", "default", check=False).returncode == 0

    def _write_kubeconfig(self, port: int) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "devcluster",
                    "cluster": {
                        "server": f"https://127.0.0.1:{port}",
                        "certificate-authority": str(self.pki.ca_cert),
                    },
                }
            ],
            "users": [
                {
                    "name": "admin",
                    "user": {
                        "client-certificate": str(self.pki.admin_cert),
                        "client-key": str(self.pki.admin_key),
                    },
                }
            ],
            "contexts": [{"name": "devcluster", "context": {"cluster": "devcluster", "user": "admin"}}],
            "current-context": "devcluster",
        }
        self.kubeconfig.write_text(yaml.safe_dump(config))
        self.kubeconfig.chmod(0o600)

    def _etcd_args(self, state: State) -> list[str]:
        client, peer = state.ports["etcd"], state.ports["etcd-peer"]
        return [
            "--name=devcluster",
            f"--data-dir={self.root / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{client}",
            f"--advertise-client-urls=http://127.0.0.1:{client}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=devcluster=http://127.0.0.1:{peer}",
            "--unsafe-no-fsync",
            "--quota-backend-bytes=4294967296",
            "--log-level=warn",
        ]

    def _apiserver_args(self, state: State) -> list[str]:
        policy = self.root / "audit-policy.yaml"
        policy.write_text(yaml.safe_dump(_AUDIT_POLICY))
        p = self.pki
        # With a real node, pods reach the API server on the node's bridge: listen there too, and publish that
        # address as the `kubernetes` Service's endpoint (the lease reconciler); the kubelet is called with the
        # admin certificate (logs, exec).
        node_flags = [
            "--bind-address=0.0.0.0",
            f"--advertise-address={NODE_IP}",
            "--endpoint-reconciler-type=lease",
            f"--kubelet-client-certificate={self.pki.admin_cert}",
            f"--kubelet-client-key={self.pki.admin_key}",
            "--kubelet-preferred-address-types=InternalIP",
        ]
        loopback_flags = [
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            "--endpoint-reconciler-type=none",
        ]
        return [
            f"--etcd-servers=http://127.0.0.1:{state.ports['etcd']}",
            *(node_flags if self.real_node else loopback_flags),
            f"--secure-port={state.ports['apiserver']}",
            f"--tls-cert-file={p.server_cert}",
            f"--tls-private-key-file={p.server_key}",
            f"--client-ca-file={p.ca_cert}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={p.sa_pub}",
            f"--service-account-signing-key-file={p.sa_key}",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--authorization-mode=RBAC",
            "--allow-privileged=true",
            "--profiling=false",
            f"--audit-policy-file={policy}",
            f"--audit-log-path={self.audit_log}",
            "--audit-log-format=json",
            "--audit-log-mode=blocking",
        ]

    def _component_args(self, port: int) -> list[str]:
        """Flags the controller-manager and the scheduler share: the admin kubeconfig, loopback serving, no
        leader election (one of each)."""
        kc = str(self.kubeconfig)
        return [
            f"--kubeconfig={kc}",
            f"--authentication-kubeconfig={kc}",
            f"--authorization-kubeconfig={kc}",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            "--leader-elect=false",
        ]

    def _kcm_args(self, state: State) -> list[str]:
        return [
            *self._component_args(state.ports["kcm"]),
            f"--service-account-private-key-file={self.pki.sa_key}",
            f"--root-ca-file={self.pki.ca_cert}",
            "--use-service-account-credentials=true",
            "--controllers=*,-nodeipam,-cloud-node-lifecycle",
            "--concurrent-gc-syncs=5",
        ]

    def _scheduler_args(self, state: State) -> list[str]:
        return self._component_args(state.ports["scheduler"])

    def _kwok_args(self, state: State) -> list[str]:
        return [
            f"--kubeconfig={self.kubeconfig}",
            f"--config={build.asset('kwok')}",
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            "--cidr=10.244.0.0/16",
            "--node-ip=10.0.0.1",
            "--node-lease-duration-seconds=40",
            f"--server-address=127.0.0.1:{state.ports['kwok']}",
        ]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait_ports_closed(ports: Iterable[int], deadline: float) -> None:
    pending = set(ports)
    while pending and time.monotonic() < deadline:
        pending = {p for p in pending if port_open(p)}
        if pending:
            time.sleep(0.1)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _reaped(pid: int) -> bool:
    """True when `pid` is our child and has exited (so it is a zombie we just collected)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return done == pid
