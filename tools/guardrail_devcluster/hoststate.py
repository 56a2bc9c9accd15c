"""What the real node may change on the host, recorded before `up` and put back by `down`.

A snapshot holds the network interfaces, the firewall (every iptables/ip6tables table, and the nftables
ruleset where `nft` is installed), the mount points, the kernel settings the node's components write
(`ip_forward` from the CNI bridge plugin; the kubelet's panic/overcommit/keys tunables), and the top-level
cgroups. `restore` undoes the differences it knows how to undo; `diff` says what still differs.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

SYSCTLS = (
    "net/ipv4/ip_forward",
    "net/ipv4/conf/all/forwarding",
    "net/ipv4/conf/default/forwarding",
    "net/ipv6/conf/all/forwarding",
    "net/ipv4/conf/all/route_localnet",
    "net/bridge/bridge-nf-call-iptables",
    "net/bridge/bridge-nf-call-ip6tables",
    "net/netfilter/nf_conntrack_max",
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
IPTABLES = {"ip": ("iptables-save", "iptables-restore"), "ip6": ("ip6tables-save", "ip6tables-restore")}
CGROUP_ROOT = Path("/sys/fs/cgroup")


def _out(*cmd: str) -> str:
    if shutil.which(cmd[0]) is None:
        return ""
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    return result.stdout if result.returncode == 0 else ""


def _iptables_tables(dump: str) -> dict[str, str]:
    """table -> its rules (counters and comments dropped), from an iptables-save dump."""
    tables: dict[str, list[str]] = {}
    current = None
    for line in dump.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if line.startswith("*"):
            current = line[1:]
            tables[current] = []
        elif current is not None and line != "COMMIT":
            tables[current].append(line.split(" [", 1)[0] if line.startswith(":") else line)
    return {name: "\n".join(lines) for name, lines in tables.items()}


def _sysctl(name: str) -> str | None:
    try:
        return (Path("/proc/sys") / name).read_text().strip()
    except OSError:
        return None


def _mounts() -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        points.append(fields[4].replace("\\040", " "))
    return sorted(points)


def _cgroups() -> list[str]:
    out = []
    if CGROUP_ROOT.is_dir():
        for controller in sorted(CGROUP_ROOT.iterdir()):
            if controller.is_dir() and not controller.is_symlink():
                out += [f"{controller.name}/{d.name}" for d in sorted(controller.iterdir()) if d.is_dir()]
    return out


@dataclass
class HostState:
    interfaces: list[str] = field(default_factory=list)
    firewall: dict[str, dict[str, str]] = field(default_factory=dict)  # family -> table -> rules
    nftables: str = ""
    mounts: list[str] = field(default_factory=list)
    sysctls: dict[str, str | None] = field(default_factory=dict)
    cgroups: list[str] = field(default_factory=list)
    netns: list[str] = field(default_factory=list)

    @classmethod
    def capture(cls) -> HostState:
        netns_dir = Path("/run/netns")
        net = Path("/sys/class/net")
        return cls(
            interfaces=sorted(p.name for p in net.iterdir()) if net.is_dir() else [],
            firewall={family: _iptables_tables(_out(save)) for family, (save, _) in IPTABLES.items()},
            nftables=_out("nft", "list", "ruleset"),
            mounts=_mounts(),
            sysctls={name: _sysctl(name) for name in SYSCTLS},
            cgroups=_cgroups(),
            netns=sorted(p.name for p in netns_dir.iterdir()) if netns_dir.is_dir() else [],
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> HostState:
        return cls(**json.loads(path.read_text()))

    def diff(self, other: HostState) -> list[str]:
        """What differs between this (before) and `other` (after), one line each; empty when the same."""
        out = []
        for name in ("interfaces", "mounts", "cgroups", "netns"):
            before, after = set(getattr(self, name)), set(getattr(other, name))
            out += [f"{name}: added {x}" for x in sorted(after - before)]
            out += [f"{name}: removed {x}" for x in sorted(before - after)]
        for family in IPTABLES:
            before_t, after_t = self.firewall.get(family, {}), other.firewall.get(family, {})
            for table in sorted(set(before_t) | set(after_t)):
                if before_t.get(table) != after_t.get(table):
                    out.append(f"firewall: {family} table {table} changed")
        if self.nftables != other.nftables:
            out.append("nftables: ruleset changed")
        out += [
            f"sysctl {k}: {v} -> {other.sysctls.get(k)}" for k, v in self.sysctls.items() if other.sysctls.get(k) != v
        ]
        return out

    def restore(self) -> list[str]:
        """Undo what differs now from this snapshot (firewall, kernel settings, cgroups the node made); returns
        what could not be restored."""
        now = HostState.capture()
        problems: list[str] = []
        for family, (_, restore) in IPTABLES.items():
            before, after = self.firewall.get(family, {}), now.firewall.get(family, {})
            for table in after:
                if after[table] == before.get(table):
                    continue
                if table in before:
                    dump = f"*{table}\n{before[table]}\nCOMMIT\n"
                    result = subprocess.run([restore], input=dump, capture_output=True, text=True, timeout=30)
                    if result.returncode != 0:
                        problems.append(f"{restore} {table}: {result.stderr.strip()}")
                elif shutil.which("nft"):  # a table the node created: drop it whole
                    subprocess.run(["nft", "delete", "table", family, table], capture_output=True, timeout=30)  # noqa: S607
        if shutil.which("nft") and self.nftables != _out("nft", "list", "ruleset"):
            before_tables = {line for line in self.nftables.splitlines() if line.startswith("table ")}
            for line in _out("nft", "list", "ruleset").splitlines():
                if line.startswith("table ") and line not in before_tables:
                    _, family, name = line.rstrip(" {").split()[:3]
                    subprocess.run(["nft", "delete", "table", family, name], capture_output=True, timeout=30)  # noqa: S607
        for name, value in self.sysctls.items():
            if value is not None and _sysctl(name) != value:
                try:
                    (Path("/proc/sys") / name).write_text(value + "\n")
                except OSError as exc:
                    problems.append(f"sysctl {name}: {exc}")
        for added in sorted(set(now.cgroups) - set(self.cgroups)):
            _remove_cgroup(CGROUP_ROOT / added)
        return problems


def _remove_cgroup(path: Path) -> None:
    """rmdir a cgroup and its children, deepest first (their processes are gone by now)."""
    if not path.is_dir():
        return
    for child in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            child.rmdir()
    with contextlib.suppress(OSError):
        path.rmdir()
