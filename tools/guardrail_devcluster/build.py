"""Build the control-plane binaries from official Go modules, cached under ~/.cache keyed by version."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from guardrail_devcluster.errors import PrerequisiteError
from guardrail_devcluster.versions import GO_MIN, Tool, node_tools, tools


def cache_root() -> Path:
    """Where binaries and wrapper modules are cached (override with GUARDRAIL_CACHE_DIR)."""
    base = os.environ.get("GUARDRAIL_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "guardrail-operator"
    )
    return Path(base)


def tool_dir(tool: Tool) -> Path:
    return cache_root() / "bin" / f"{tool.name}-{tool.version}"


def binary(name: str) -> Path:
    """Path of a built binary, e.g. binary('kube-apiserver') or binary('kubelet')."""
    for tool in (*tools(), *node_tools()):
        if name in tool.binaries:
            return tool_dir(tool) / name
    raise KeyError(name)


def bin_dirs(*, real_node: bool = False) -> list[Path]:
    return [tool_dir(t) for t in (*tools(), *(node_tools() if real_node else ()))]


def _log(message: str) -> None:
    print(f"[devcluster] {message}", file=sys.stderr, flush=True)


def check_go() -> str:
    """The `go` executable, or a PrerequisiteError that says how to get one."""
    go = shutil.which("go")
    if go is None:
        raise PrerequisiteError(
            "`go` not found on PATH: the control plane is built from Go modules. Install Go 1.22+ "
            "(e.g. `apt-get install golang` or the Go tarball) and re-run; newer toolchains are fetched automatically."
        )
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout.strip()
    match = re.match(r"go(\d+)\.(\d+)", out)
    if match and (int(match[1]), int(match[2])) < (1, 21):
        raise PrerequisiteError(f"{out} is too old to fetch toolchains; install Go 1.21 or newer")
    if match and (int(match[1]), int(match[2])) < GO_MIN:
        _log(f"{out} is older than go{GO_MIN[0]}.{GO_MIN[1]}: the go command will fetch a newer toolchain")
    return go


def _go_mod(tool: Tool) -> str:
    lines = ["module guardrail.dev/devcluster-build", "", f"go {GO_MIN[0]}.{GO_MIN[1]}.0", ""]
    lines.append(f"require {tool.module} {tool.version}")
    if tool.replaces:
        lines += ["", "replace ("] + [f"\t{old} => {new}" for old, new in sorted(tool.replaces.items())] + [")"]
    return "\n".join(lines) + "\n"


def _go_binary_name(package: str) -> str:
    """The file name `go build -o DIR/` gives a main package: its last path element, skipping a /vN suffix."""
    parts = package.rstrip("/").split("/")
    return parts[-2] if re.fullmatch(r"v\d+", parts[-1]) and len(parts) > 1 else parts[-1]


def _heartbeat(label: str, counter: list[int], done: threading.Event) -> None:
    start = time.monotonic()
    while not done.wait(20):
        _log(f"  … {label}: {counter[0]} packages compiled, {time.monotonic() - start:.0f}s")


def build_tool(go: str, tool: Tool) -> None:
    """Build one tool into a temporary folder, then move it into the cache atomically."""
    src = cache_root() / "src" / f"{tool.name}-{tool.version}"
    src.mkdir(parents=True, exist_ok=True)
    (src / "go.mod").write_text(_go_mod(tool))
    final = tool_dir(tool)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{tool.name}-", dir=final.parent))
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "auto"}
    ldflags = " ".join(("-s", "-w", *tool.ldflags))
    cmd = [
        go,
        "build",
        "-v",
        "-trimpath",
        "-ldflags",
        ldflags,
        "-o",
        str(staging) + "/",
        *tool.binaries.values(),
    ]
    label = f"{tool.name} {tool.version}"
    _log(f"building {label} ({', '.join(tool.binaries)})")
    started = time.monotonic()
    counter, done = [0], threading.Event()
    tail: list[str] = []
    beat = threading.Thread(target=_heartbeat, args=(label, counter, done), daemon=True)
    beat.start()
    with subprocess.Popen(cmd, cwd=src, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:
            counter[0] += not line.startswith("go: ")
            tail = [*tail[-30:], line.rstrip()]
        proc.wait()
    done.set()
    if proc.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise PrerequisiteError(f"building {label} failed (go exit {proc.returncode}):\n" + "\n".join(tail))
    # go build names the outputs after the package's last element; kube binaries already match.
    for name, pkg in tool.binaries.items():
        built = staging / _go_binary_name(pkg)
        if built != staging / name:
            built.rename(staging / name)
    if tool.assets:
        _copy_assets(go, tool, src, env, staging)
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    _log(f"built {label} in {time.monotonic() - started:.0f}s → {final}")


def _copy_assets(go: str, tool: Tool, src: Path, env: dict[str, str], dest: Path) -> None:
    module_dir = subprocess.run(
        [go, "list", "-m", "-f", "{{.Dir}}", tool.module],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    docs = [(Path(module_dir) / asset).read_text().strip() for asset in tool.assets]
    (dest / f"{tool.name}-assets.yaml").write_text("\n---\n".join(docs) + "\n")


def asset(tool_name: str) -> Path:
    """The concatenated asset file of a tool (e.g. kwok's lifecycle stages)."""
    return next(tool_dir(t) / f"{t.name}-assets.yaml" for t in tools() if t.name == tool_name)


def is_built(tool: Tool) -> bool:
    return all((tool_dir(tool) / b).is_file() for b in tool.binaries) and (
        not tool.assets or (tool_dir(tool) / f"{tool.name}-assets.yaml").is_file()
    )


def ensure_built(*, real_node: bool = False) -> None:
    """Build whatever is missing (with `real_node`, the node's binaries too); cached, a second call does nothing."""
    missing = [t for t in (*tools(), *(node_tools() if real_node else ())) if not is_built(t)]
    if not missing:
        return
    go = check_go()
    _log(f"first use: building {len(missing)} tool(s) from the Go module proxy; this takes minutes")
    for tool in missing:
        build_tool(go, tool)
