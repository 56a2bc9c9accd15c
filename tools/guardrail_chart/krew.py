"""Package the kubectl plugin (`kubectl guardrail`, the `kubectl-guardrail` console script) for krew.

    python -m guardrail_chart.krew                # rewrite charts/krew/guardrail.yaml (the archive's sha256 in it)
    python -m guardrail_chart.krew --check        # exit 1 if the manifest does not match the archive built now
    python -m guardrail_chart.krew --out dist     # also write the archive, to attach to the GitHub release

The archive is byte-for-byte reproducible (sorted entries, fixed times and owners, gzip without a timestamp),
so the committed manifest's sha256 is checked by the tests. It holds a small POSIX launcher, `kubectl-guardrail`:
the plugin is Python, so the launcher installs `guardrail-operator==<version>` from PyPI into a private
virtualenv under `${XDG_CACHE_HOME:-~/.cache}/guardrail-operator/kubectl-guardrail-<version>` on first use
(needs python3 >= 3.11) and runs its console script. `GUARDRAIL_KUBECTL_VENV` points it at an existing virtualenv
that has the project installed instead (a checkout's `.venv`).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import sys
import tarfile
from pathlib import Path
from typing import Any

import yaml

from guardrail_devcluster.build import build_tool, check_go, is_built, tool_dir
from guardrail_devcluster.versions import Tool

KREW = Tool("krew", "sigs.k8s.io/krew", "v0.4.4", {"krew": "sigs.k8s.io/krew/cmd/krew"})
ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "charts" / "krew" / "guardrail.yaml"
HOMEPAGE = "https://github.com/guardrails-dev/guardrail-operator"
RELEASES = f"{HOMEPAGE}/releases/download"
BIN = "kubectl-guardrail"
EPOCH = 1_700_000_000  # fixed mtime of every archive entry

LAUNCHER = """#!/bin/sh
# kubectl-guardrail {version}: the Guardrail Operator's kubectl plugin, installed by krew.
# The plugin is Python: on first use this installs guardrail-operator=={pip_version} from PyPI into a private
# virtualenv (python3 >= 3.11 needed) and runs its kubectl-guardrail console script. GUARDRAIL_KUBECTL_VENV
# names an existing virtualenv with the project installed instead.
set -eu
venv="${{GUARDRAIL_KUBECTL_VENV:-${{XDG_CACHE_HOME:-$HOME/.cache}}/guardrail-operator/kubectl-guardrail-{version}}}"
if [ ! -x "$venv/bin/kubectl-guardrail" ]; then
  if [ -n "${{GUARDRAIL_KUBECTL_VENV:-}}" ]; then
    echo "kubectl-guardrail: $venv/bin/kubectl-guardrail not found (GUARDRAIL_KUBECTL_VENV)" >&2
    exit 1
  fi
  python=$(command -v python3 || true)
  if [ -z "$python" ] || ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "kubectl-guardrail: needs python3 >= 3.11 on PATH" >&2
    exit 1
  fi
  echo "kubectl-guardrail: first run, installing guardrail-operator=={pip_version} into $venv" >&2
  "$python" -m venv "$venv.tmp"
  "$venv.tmp/bin/pip" install -q "guardrail-operator=={pip_version}"
  mv "$venv.tmp" "$venv"
fi
exec "$venv/bin/kubectl-guardrail" "$@"
"""

DESCRIPTION = """\
Watch and steer the canary rollouts of Guardrail resources (the Guardrail Operator's LLM grounding and
prompt-injection checks): `kubectl guardrail rollout status NAME` shows the canary's step, weight and
analysis; `promote`, `abort`, `undo`, `pause`, `resume` and `history` act on it through the operator.
"""

CAVEATS = """\
The plugin is Python. On first use it installs guardrail-operator from PyPI into
${XDG_CACHE_HOME:-~/.cache}/guardrail-operator/kubectl-guardrail-<version>; it needs python3 >= 3.11.
"""


def project_version() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    for line in text.splitlines():
        if line.startswith("version = "):
            return line.split("=", 1)[1].strip().strip('"')
    raise ValueError("pyproject.toml has no [project] version")


def archive_name(version: str) -> str:
    return f"{BIN}_v{version}.tar.gz"


def archive(version: str) -> bytes:
    """The reproducible tar.gz: the launcher and the license note."""
    files = {
        BIN: (LAUNCHER.format(version=f"v{version}", pip_version=version).encode(), 0o755),
        "LICENSE": (b"Apache-2.0: https://www.apache.org/licenses/LICENSE-2.0\n", 0o644),
    }
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            data, mode = files[name]
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, EPOCH
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)


def manifest(version: str, sha256: str) -> dict[str, Any]:
    """krew's Plugin manifest (krew.googlecontainertools.github.com/v1alpha2) for the archive."""
    return {
        "apiVersion": "krew.googlecontainertools.github.com/v1alpha2",
        "kind": "Plugin",
        "metadata": {"name": "guardrail"},
        "spec": {
            "version": f"v{version}",
            "homepage": HOMEPAGE,
            "shortDescription": "Watch and steer Guardrail canary rollouts",
            "description": DESCRIPTION,
            "caveats": CAVEATS,
            "platforms": [
                {
                    "selector": {"matchExpressions": [{"key": "os", "operator": "In", "values": ["darwin", "linux"]}]},
                    "uri": f"{RELEASES}/v{version}/{archive_name(version)}",
                    "sha256": sha256,
                    "files": [{"from": BIN, "to": "."}, {"from": "LICENSE", "to": "."}],
                    "bin": BIN,
                }
            ],
        },
    }


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, as krew-index manifests write them."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def krew_binary() -> Path:
    """krew itself (v0.4.4), built from its Go module like the control plane on first use; the tests install
    the plugin with it (`krew install --manifest --archive`)."""
    if not is_built(KREW):
        build_tool(check_go(), KREW)
    return tool_dir(KREW) / "krew"


def render(version: str) -> str:
    data = archive(version)
    body = yaml.dump(manifest(version, hashlib.sha256(data).hexdigest()), Dumper=_Dumper, sort_keys=False, width=120)
    return f"# Generated by `python -m guardrail_chart.krew` (the sha256 of its reproducible archive).\n{body}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed manifest is out of date")
    parser.add_argument("--out", type=Path, default=None, help="also write the archive and manifest here")
    args = parser.parse_args(argv)
    version = project_version()
    text = render(version)
    if args.check:
        if not MANIFEST.exists() or MANIFEST.read_text() != text:
            print(f"{MANIFEST} is out of date: run python -m guardrail_chart.krew", file=sys.stderr)
            return 1
        return 0
    MANIFEST.parent.mkdir(parents=True, exist_ok=True)
    MANIFEST.write_text(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / archive_name(version)).write_bytes(archive(version))
        (args.out / MANIFEST.name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
