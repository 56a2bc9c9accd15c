"""Security scan of the rendered chart with checkov, every optional feature switched on.

    python -m guardrail_chart.scan --install    # first time: checkov into its own virtualenv (its pins
                                               # conflict with the project's), under ~/.cache/guardrail-operator
    python -m guardrail_chart.scan              # render with helm, scan, exit 1 on any failed check

Suppressions live in the templates as `checkov.io/skipN` annotations, each with its reason.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guardrail_devcluster.build import binary, cache_root
from guardrail_devcluster.versions import KUBERNETES

CHECKOV_VERSION = "3.3.30"
CHART = Path(__file__).resolve().parents[2] / "charts" / "guardrail-operator"
ALL_FEATURES = (
    "metrics.serviceMonitor.enabled=true",
    "metrics.podMonitor.enabled=true",
    "metrics.prometheusRule.enabled=true",
)


class ScanError(RuntimeError):
    """helm or checkov could not run; the message says which and how to fix it."""


@dataclass(frozen=True)
class Finding:
    check_id: str
    name: str
    resource: str


@dataclass(frozen=True)
class Report:
    passed: int
    skipped: int  # suppressed in place by checkov.io/skipN annotations
    failed: list[Finding]


def checkov_path() -> Path:
    """checkov from GUARDRAIL_CHECKOV, else the project's own virtualenv under the cache."""
    override = os.environ.get("GUARDRAIL_CHECKOV")
    return Path(override) if override else cache_root() / "checkov-venv" / "bin" / "checkov"


def install() -> Path:
    """Create the checkov virtualenv (once); returns the checkov executable."""
    exe = checkov_path()
    if exe.exists():
        return exe
    venv = exe.parent.parent
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"checkov=={CHECKOV_VERSION}"], check=True)
    return exe


def render(chart: Path = CHART, sets: tuple[str, ...] = ALL_FEATURES) -> str:
    helm = binary("helm")
    if not helm.exists():
        raise ScanError("helm is not built: run `make cluster` once")
    cmd = [str(helm), "template", "scan", str(chart), "-n", "guardrail-system", "--kube-version", KUBERNETES]
    for value in sets:
        cmd += ["--set", value]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise ScanError(f"helm template failed: {result.stderr}")
    return result.stdout


def parse(output: str) -> Report:
    """checkov's JSON report (one object, or a list of one per framework) as a Report."""
    data: Any = json.loads(output)
    runs = data if isinstance(data, list) else [data]
    passed, skipped, failed = 0, 0, []
    for run in runs:
        summary = run.get("summary", {})
        passed += summary.get("passed", 0)
        skipped += summary.get("skipped", 0)
        failed += [
            Finding(c["check_id"], c["check_name"], c["resource"])
            for c in run.get("results", {}).get("failed_checks", [])
        ]
    return Report(passed, skipped, failed)


def scan(manifests: str, checkov: Path | None = None) -> Report:
    """Run checkov offline (--skip-download: no calls to its vendor's API) on rendered manifests."""
    exe = checkov or checkov_path()
    if not exe.exists():
        raise ScanError(f"checkov not found at {exe}: run python -m guardrail_chart.scan --install")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chart.yaml"
        path.write_text(manifests)
        result = subprocess.run(
            [str(exe), "-f", str(path), "--framework", "kubernetes", "--skip-download", "--quiet", "-o", "json"],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
        )
    if result.returncode not in (0, 1):  # 1 means "checks failed"; anything else is checkov itself failing
        raise ScanError(f"checkov exited {result.returncode}: {result.stderr[-2000:]}")
    return parse(result.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--install", action="store_true", help="install checkov into its own virtualenv first")
    args = parser.parse_args(argv)
    if args.install:
        install()  # only the scanner: helm comes with the control-plane build, which a cold `make test` runs later
        return 0
    report = scan(render())
    print(f"checkov: {report.passed} passed, {len(report.failed)} failed, {report.skipped} skipped (justified)")
    for finding in report.failed:
        print(f"  {finding.check_id} {finding.name}: {finding.resource}")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
