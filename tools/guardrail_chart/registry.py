"""A local OCI registry for the chart: the CNCF distribution registry, built from its Go module like the control
plane (cached under ~/.cache/guardrail-operator/bin/registry-<version>/) and run on a free 127.0.0.1 port.

    python -m guardrail_chart.registry build           # build it once (minutes), print the binary's path
    python -m guardrail_chart.registry serve [--port N] # serve plain HTTP until interrupted

`helm push <chart>.tgz oci://127.0.0.1:<port>/charts --plain-http` stores the chart there and
`helm install <release> oci://127.0.0.1:<port>/charts/guardrail-operator --version <v> --plain-http` installs it.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from guardrail_devcluster.build import build_tool, check_go, is_built, tool_dir
from guardrail_devcluster.versions import Tool

DISTRIBUTION = "3.1.2"  # github.com/distribution/distribution/v3, the CNCF distribution registry
REGISTRY = Tool(
    "registry",
    "github.com/distribution/distribution/v3",
    f"v{DISTRIBUTION}",
    {"registry": "github.com/distribution/distribution/v3/cmd/registry"},
    ldflags=(f"-X github.com/distribution/distribution/v3/version.version=v{DISTRIBUTION}",),
)
START_TIMEOUT_S = 30.0


def binary() -> Path:
    return tool_dir(REGISTRY) / "registry"


def ensure_built() -> Path:
    """The registry binary, built from the Go module proxy on first use (needs `go`)."""
    if not is_built(REGISTRY):
        build_tool(check_go(), REGISTRY)
    return binary()


def config(root: Path, port: int) -> str:
    """A filesystem-backed registry on 127.0.0.1:`port`, plain HTTP, no auth (a test and demo registry)."""
    return (
        "version: 0.1\n"
        "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Registry:
    host: str  # 127.0.0.1:<port>, what oci:// references name
    log: Path

    def catalog(self) -> list[str]:
        """Repositories the registry holds (its /v2/_catalog)."""
        names: list[str] = httpx.get(f"http://{self.host}/v2/_catalog", timeout=10).json()["repositories"]
        return names

    def tags(self, repository: str) -> list[str]:
        tags: list[str] = httpx.get(f"http://{self.host}/v2/{repository}/tags/list", timeout=10).json()["tags"]
        return tags


@contextlib.contextmanager
def serving(folder: Path, port: int | None = None) -> Iterator[Registry]:
    """Run the registry with its storage and config under `folder` until the block ends."""
    path = ensure_built()
    port = port or free_port()
    (folder / "storage").mkdir(parents=True, exist_ok=True)
    cfg = folder / "config.yml"
    cfg.write_text(config(folder / "storage", port))
    log = folder / "registry.log"
    registry = Registry(f"127.0.0.1:{port}", log)
    with log.open("w") as out, subprocess.Popen([str(path), "serve", str(cfg)], stdout=out, stderr=out) as proc:
        try:
            _wait_ready(registry, proc)
            yield registry
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _wait_ready(registry: Registry, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the registry exited ({proc.returncode}): {registry.log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://{registry.host}/v2/", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"the registry did not answer /v2/ within {START_TIMEOUT_S}s: {registry.log}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m guardrail_chart.registry", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build the registry binary (once) and print its path")
    serve = sub.add_parser("serve", help="serve a registry on 127.0.0.1 until interrupted")
    serve.add_argument("--port", type=int, default=0)
    serve.add_argument("--dir", type=Path, default=None, help="storage folder (default: a temporary one)")
    args = parser.parse_args(argv)
    if args.command == "build":
        print(ensure_built())
        return 0
    with contextlib.ExitStack() as stack:
        folder = args.dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="guardrail-registry-")))
        registry = stack.enter_context(serving(folder, args.port or None))
        print(f"serving oci://{registry.host} (storage {folder}); Ctrl-C stops it", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    return 0


if __name__ == "__main__":
    sys.exit(main())
