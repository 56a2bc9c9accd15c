"""One real node beside the kwok ones: containerd + runc, the kubelet, kube-proxy and CoreDNS on the host.

Debian's containerd, runc and CNI plugins (`make node-deps`); kubelet, kube-proxy, CoreDNS and crictl built
from Go modules (`build.ensure_built(real_node=True)`). The node's IP is a bridge made for it (`grnode0`,
10.88.0.1/24; the kubelet refuses loopback and the kernel may offer no dummy interfaces); the CNI bridge plugin
attaches pods to that bridge. The API server listens on it too, so pods reach `kubernetes.default`.

Everything the node keeps is under `<cluster dir>/node/`. Before anything starts the host is recorded
(`hoststate.HostState`); `stop()` removes every pod through the CRI, stops the processes and their shims,
unmounts what is left under the node's folders, deletes the bridge and puts the firewall, the kernel settings
and the cgroups back as recorded.

`preflight()` raises `RealNodeUnavailable` (and changes nothing) where the machine cannot run a node: not
root, no writable cgroups, a Debian package missing, no CAP_NET_ADMIN or overlay mounts.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from guardrail_devcluster import build
from guardrail_devcluster.errors import PrerequisiteError, StartupError
from guardrail_devcluster.hoststate import CGROUP_ROOT, HostState

NODE_NAME = "real-node-0"
BRIDGE = "grnode0"
NODE_IP = "10.88.0.1"
POD_SUBNET = "10.88.0.0/24"
CNI_BIN = Path("/usr/lib/cni")
NETNS_DIR = Path("/run/netns")
REAL_NODE_LABEL = "guardrails.dev/real-node"
# kwok's fake nodes carry this taint while a real node is up, so ordinary pods land on the real one.
FAKE_TAINT = {"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}
PAUSE_IMAGE = "docker.io/library/guardrail-pause:dev"
DEBIAN_BINARIES = {
    "containerd": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "iptables": "iptables",
    "iptables-save": "iptables",
    "iptables-restore": "iptables",
    "ip": "iproute2",
}


class RealNodeUnavailable(PrerequisiteError):
    """This machine cannot run a real node (privileges, cgroups, packages); the message says what is missing."""


def _run(*cmd: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise StartupError(f"`{' '.join(cmd)}` exited {result.returncode}: {result.stderr.strip()}")
    return result


def preflight() -> None:
    """Raise RealNodeUnavailable unless this machine can run the node; leaves nothing behind."""
    if os.geteuid() != 0:
        raise RealNodeUnavailable("the real node needs root (containerd, the CNI bridge, iptables)")
    missing = sorted({pkg for binary, pkg in DEBIAN_BINARIES.items() if shutil.which(binary) is None})
    if not all((CNI_BIN / p).is_file() for p in ("bridge", "host-local", "loopback", "portmap")):
        missing.append("containernetworking-plugins")
    if missing:
        raise RealNodeUnavailable(f"Debian packages missing: {', '.join(missing)} (run `make node-deps` as root)")
    v1 = all((CGROUP_ROOT / c).is_dir() for c in ("cpu", "memory", "pids"))
    v2 = (CGROUP_ROOT / "cgroup.controllers").is_file()
    if not (v1 or v2):
        raise RealNodeUnavailable(f"no cgroup v1 controllers or cgroup v2 under {CGROUP_ROOT}")
    probe = (CGROUP_ROOT / ("memory" if v1 else "") / f"guardrail-probe-{os.getpid()}").resolve()
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError as exc:
        raise RealNodeUnavailable(f"cgroups are not writable ({probe}: {exc.strerror})") from exc
    link = f"grprobe{os.getpid() % 10000}"
    if _run("ip", "link", "add", link, "type", "bridge", check=False).returncode != 0:
        raise RealNodeUnavailable("cannot create a network bridge (no CAP_NET_ADMIN)")
    _run("ip", "link", "delete", link, check=False)
    if _run("ip", "-4", "route", "show", "to", "match", NODE_IP, check=False).stdout.strip().startswith("10.88."):
        raise RealNodeUnavailable(
            f"{POD_SUBNET} is already routed on this host (another real node is up: `make cluster-down`, or "
            f"`ip link delete {BRIDGE}` after a crash)"
        )
    with tempfile.TemporaryDirectory(prefix="guardrail-overlay-") as tmp:
        dirs = [Path(tmp) / d for d in ("lower", "upper", "work", "merged")]
        for d in dirs:
            d.mkdir()
        opts = f"lowerdir={dirs[0]},upperdir={dirs[1]},workdir={dirs[2]}"
        if _run("mount", "-t", "overlay", "overlay", "-o", opts, str(dirs[3]), check=False).returncode != 0:
            raise RealNodeUnavailable("cannot mount overlayfs (containerd's snapshotter needs it)")
        _run("umount", str(dirs[3]), check=False)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _stop_pid(pid: int, grace: float) -> None:
    if not _alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _alive(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.1)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        for _ in range(50):
            _reap(pid)
            if not _alive(pid):
                break
            time.sleep(0.1)


class RealNode:
    """The real node of the cluster rooted at `cluster_root` (its files under `<cluster_root>/node/`)."""

    def __init__(self, cluster_root: Path) -> None:
        self.cluster_root = cluster_root.resolve()
        self.dir = self.cluster_root / "node"
        self.logs = self.cluster_root / "logs"
        self.state_file = self.dir / "state.json"
        self.host_before = self.dir / "host-before.json"
        self.kubeconfig = self.cluster_root / "kubeconfig"

    # -- paths ------------------------------------------------------------------------------------------------
    @property
    def containerd_socket(self) -> Path:
        return self.dir / "run" / "containerd.sock"

    @property
    def containerd_address(self) -> str:
        return str(self.containerd_socket)

    @property
    def cri_endpoint(self) -> str:
        return f"unix://{self.containerd_socket}"

    def _state(self) -> dict[str, Any]:
        if not self.state_file.is_file():
            return {"pids": {}, "ports": {}}
        loaded: dict[str, Any] = json.loads(self.state_file.read_text())
        return loaded

    def _save(self, state: dict[str, Any]) -> None:
        self.state_file.write_text(json.dumps(state, indent=1))

    def is_running(self) -> bool:
        pids = self._state()["pids"]
        return bool(pids) and all(_alive(p) for p in pids.values())

    # -- start --------------------------------------------------------------------------------------------------
    def prepare_host(self) -> None:
        """Record the host, then make the bridge the node (and the API server) use as their IP."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        if not self.host_before.is_file():
            HostState.capture().save(self.host_before)
        self._save({"pids": {}, "ports": {}})
        if _run("ip", "link", "show", BRIDGE, check=False).returncode != 0:
            _run("ip", "link", "add", BRIDGE, "type", "bridge")
        _run("ip", "addr", "replace", f"{NODE_IP}/24", "dev", BRIDGE)
        _run("ip", "link", "set", BRIDGE, "up")

    def start(self, free_port: Callable[[], int], timeout: float = 180) -> None:
        """Start containerd, CoreDNS, the kubelet and kube-proxy; the control plane must be up already."""
        state = self._state()
        state["ports"] = {n: free_port() for n in ("kubelet", "kubelet-healthz", "proxy-healthz", "proxy-metrics")}
        self._save(state)
        self._write_configs(state["ports"])
        deadline = time.monotonic() + timeout
        self._spawn("containerd", [_which("containerd"), "--config", str(self.dir / "containerd.toml")])
        self._wait("containerd", deadline, lambda: self._ctr("version").returncode == 0)
        self._spawn("coredns", [str(build.binary("coredns")), "-conf", str(self.dir / "Corefile")])
        self._spawn("kubelet", [str(build.binary("kubelet")), *self._kubelet_args()])
        self._spawn(
            "kube-proxy",
            [str(build.binary("kube-proxy")), f"--config={self.dir / 'kube-proxy.yaml'}", "--v=1"],
        )
        self._wait("kubelet healthz", deadline, lambda: self._http_ok(state["ports"]["kubelet-healthz"]))

    @property
    def content_root(self) -> Path:
        """containerd's root (content store, unpacked snapshots), kept across clusters in the cache: images
        imported once stay imported (nothing is mounted there while the node is down)."""
        return build.cache_root() / "node" / "containerd"

    def import_images(self, archive: Path) -> bool:
        """`ctr -n k8s.io images import` the archive, unless this very archive is already in; True if imported."""
        stamp = self.content_root / "imported"
        names = _archive_images(archive)
        if stamp.is_file() and stamp.read_text() == archive.name and set(names) <= set(self.images()):
            return False
        stamp.unlink(missing_ok=True)
        result = self._ctr("-n", "k8s.io", "images", "import", str(archive), timeout=900)
        if result.returncode != 0:
            raise StartupError(f"ctr images import failed: {result.stderr.strip()}")
        stamp.write_text(archive.name)
        return True

    def images(self) -> list[str]:
        out = self._ctr("-n", "k8s.io", "images", "list", "-q").stdout
        return [line for line in out.splitlines() if line and not line.startswith("sha256:")]

    def _ctr(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [_which("ctr"), "--address", self.containerd_address, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def crictl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(build.binary("crictl")), "--runtime-endpoint", self.cri_endpoint, "--timeout", "30s", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def _http_ok(self, port: int) -> bool:
        import httpx

        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.dir
        )
        log.close()
        state = self._state()
        state["pids"][name] = proc.pid
        self._save(state)

    def _wait(self, what: str, deadline: float, ready: Callable[[], bool]) -> None:
        while time.monotonic() < deadline:
            for name, pid in self._state()["pids"].items():
                _reap(pid)
                if not _alive(pid):
                    tail = (self.logs / f"{name}.log").read_text(errors="replace")[-2000:]
                    raise StartupError(f"{name} exited during start-up ({self.logs / name}.log):\n{tail}")
            if ready():
                return
            time.sleep(0.25)
        raise StartupError(f"timed out waiting for {what}; logs are in {self.logs}")

    # -- configuration -------------------------------------------------------------------------------------------
    def _write_configs(self, ports: dict[str, int]) -> None:
        d = self.dir
        for sub in ("run", "cni/net.d", "cni/ipam", "kubelet", "opt"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        self.content_root.mkdir(parents=True, exist_ok=True)
        (d / "containerd.toml").write_text(self._containerd_toml())
        cni = {
            "cniVersion": "1.0.0",
            "name": "guardrail-node",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": BRIDGE,
                    "isGateway": True,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": POD_SUBNET, "gateway": NODE_IP}]],
                        "routes": [{"dst": "0.0.0.0/0"}],  # Service IPs are off the bridge: via the node
                        "dataDir": str(d / "cni/ipam"),
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }
        (d / "cni/net.d/10-guardrail.conflist").write_text(json.dumps(cni, indent=1))
        (d / "Corefile").write_text(
            f".:53 {{\n    bind {NODE_IP}\n    errors\n"
            f"    kubernetes cluster.local in-addr.arpa ip6.arpa {{\n"
            f"        kubeconfig {self.kubeconfig} devcluster\n        pods insecure\n"
            f"        fallthrough in-addr.arpa ip6.arpa\n    }}\n    cache 5\n}}\n"
        )
        (d / "resolv.conf").write_text(f"nameserver {NODE_IP}\n")
        ca = self.cluster_root / "pki" / "ca.crt"
        kubelet: dict[str, Any] = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": NODE_IP,
            "port": ports["kubelet"],
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": ports["kubelet-healthz"],
            "cgroupDriver": "cgroupfs",
            "failCgroupV1": False,
            "failSwapOn": False,
            "containerRuntimeEndpoint": self.cri_endpoint,
            "clusterDNS": [NODE_IP],
            "clusterDomain": "cluster.local",
            "resolvConf": str(d / "resolv.conf"),
            "podLogsDir": str(d / "pod-logs"),  # not /var/log/pods
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(ca)},
            },
            "authorization": {"mode": "Webhook"},
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "serializeImagePulls": False,
            "staticPodPath": "",
            "protectKernelDefaults": False,
            "shutdownGracePeriod": "0s",
            "maxPods": 110,
            "registerWithTaints": [],
            "nodeStatusUpdateFrequency": "5s",
            "fileCheckFrequency": "5s",
            "syncFrequency": "10s",
            "cpuManagerPolicy": "none",
            "localStorageCapacityIsolation": True,
        }
        (d / "kubelet.yaml").write_text(yaml.safe_dump(kubelet))
        proxy = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(self.kubeconfig)},
            "hostnameOverride": NODE_NAME,
            "mode": "iptables",
            "clusterCIDR": POD_SUBNET,
            "healthzBindAddress": f"127.0.0.1:{ports['proxy-healthz']}",
            "metricsBindAddress": f"127.0.0.1:{ports['proxy-metrics']}",
            "nodePortAddresses": [f"{NODE_IP}/32"],
            # Change no kernel setting: conntrack sizes and timeouts as they are, no route_localnet.
            "conntrack": {
                "maxPerCore": 0,
                "min": 0,
                "tcpEstablishedTimeout": "0s",
                "tcpCloseWaitTimeout": "0s",
                "udpTimeout": "0s",
                "udpStreamTimeout": "0s",
            },
            # Pod -> Service -> pod on the same bridge: masquerade, so replies come back through the host.
            "iptables": {"masqueradeAll": True, "localhostNodePorts": False, "syncPeriod": "5s", "minSyncPeriod": "0s"},
        }
        (d / "kube-proxy.yaml").write_text(yaml.safe_dump(proxy))

    def _containerd_toml(self) -> str:
        d = self.dir
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        return f"""version = 2
root = "{d / "containerd"}"
state = "{d / "run" / "state"}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "{self.containerd_socket}"

[ttrpc]
  address = "{d / "run" / "containerd.sock.ttrpc"}"

[debug]
  level = "warn"

[plugins."io.containerd.internal.v1.opt"]
  path = "{d / "opt"}"

[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  # The machine may lack CAP_SYS_RESOURCE: never lower a container's oom_score_adj below containerd's own.
  restrict_oom_score_adj = true
  enable_selinux = false
  disable_apparmor = true
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
  [{cri}.cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{d / "cni" / "net.d"}"
"""

    def _kubelet_args(self) -> list[str]:
        return [
            f"--config={self.dir / 'kubelet.yaml'}",
            f"--kubeconfig={self.kubeconfig}",
            f"--root-dir={self.dir / 'kubelet'}",
            f"--cert-dir={self.dir / 'kubelet' / 'pki'}",
            f"--hostname-override={NODE_NAME}",
            f"--node-ip={NODE_IP}",
            f"--node-labels={REAL_NODE_LABEL}=true",
            "--v=1",
        ]

    # -- stop -----------------------------------------------------------------------------------------------------
    def stop(self) -> list[str]:
        """Remove the node's pods, stop its processes, undo its host changes; returns what could not be undone."""
        if not self.dir.is_dir():
            return []
        state = self._state()
        pids: dict[str, int] = state.get("pids", {})
        problems: list[str] = []
        # The kubelet first (it would restart what we remove), then every pod sandbox through the CRI: that stops
        # the containers and runs the CNI DEL (veths, IP leases, netns mounts).
        for name in ("kubelet", "kube-proxy", "coredns"):
            if name in pids:
                _stop_pid(pids[name], grace=10)
        if "containerd" in pids and _alive(pids["containerd"]) and build.binary("crictl").is_file():
            self.crictl("stopp", *self._pod_ids(), timeout=120)
            self.crictl("rmp", "--all", "--force", timeout=120)
        if "containerd" in pids:
            _stop_pid(pids["containerd"], grace=10)
        self._kill_shims()
        _kill_cgroup_processes()
        self._unmount_leftovers()
        if _run("ip", "link", "show", BRIDGE, check=False).returncode == 0:
            _run("ip", "link", "delete", BRIDGE, check=False)
        if self.host_before.is_file():
            before = HostState.load(self.host_before)
            self._remove_new_netns(before)
            problems += before.restore()
            self.host_before.unlink()
        self._save({"pids": {}, "ports": state.get("ports", {})})
        return problems

    def _pod_ids(self) -> list[str]:
        out = self.crictl("pods", "-q").stdout
        return [line for line in out.split() if line]

    def _kill_shims(self) -> None:
        """containerd's shims outlive it (own sessions): stop those of this node's containerd."""
        marker = str(self.dir)
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if ("containerd-shim" in cmdline and marker in cmdline) or (
                "containerd-shim" in cmdline and self._shim_of_ours(int(proc.name))
            ):
                _stop_pid_plain(int(proc.name))

    def _shim_of_ours(self, pid: int) -> bool:
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            return False
        return cwd.startswith(str(self.dir))

    def _unmount_leftovers(self) -> None:
        """Unmount, deepest first, anything still mounted under the node's folders (rootfs overlays, shm, pod
        volumes)."""
        roots = (str(self.dir) + "/", str(self.content_root) + "/")
        for _ in range(3):
            points = [
                line.split()[4].replace("\\040", " ")
                for line in Path("/proc/self/mountinfo").read_text().splitlines()
                if line.split()[4].startswith(roots)
            ]
            if not points:
                return
            for point in sorted(points, key=len, reverse=True):
                _run("umount", "-l", point, check=False)

    def _remove_new_netns(self, before: HostState) -> None:
        if not NETNS_DIR.is_dir():
            return
        for ns in NETNS_DIR.iterdir():
            if ns.name.startswith("cni-") and ns.name not in before.netns:
                _run("umount", "-l", str(ns), check=False)
                with contextlib.suppress(OSError):
                    ns.unlink()
        if not before.netns and NETNS_DIR.is_dir() and not any(NETNS_DIR.iterdir()):
            with contextlib.suppress(OSError):
                NETNS_DIR.rmdir()


def _archive_images(archive: Path) -> list[str]:
    """The image names an OCI archive written by guardrail_images carries (its index's annotations)."""
    import tarfile

    with tarfile.open(archive) as tar:
        member = tar.extractfile("index.json")
        index = json.loads(member.read()) if member else {"manifests": []}
    return [m["annotations"]["io.containerd.image.name"] for m in index["manifests"]]


def _kill_cgroup_processes() -> None:
    """SIGKILL whatever still runs in the kubelet's `kubepods` cgroups (a container a dead shim left behind)."""
    for procs in CGROUP_ROOT.glob("*/kubepods*/**/cgroup.procs"):
        with contextlib.suppress(OSError, ValueError):
            for pid in procs.read_text().split():
                _stop_pid_plain(int(pid))


def _which(name: str) -> str:
    return shutil.which(name) or name


def _stop_pid_plain(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    for _ in range(30):
        if not _alive(pid):
            return
        time.sleep(0.1)
