"""Prometheus scraping the local sidecar, operator and Triton (Debian's `prometheus` binary; `make system-deps`
installs it)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import yaml

from guardrail_demo.errors import DemoError

SCRAPE_INTERVAL = "1s"  # canary windows in the demo are seconds long


def config(sidecar_admin: str, operator_metrics: str | None, triton_metrics: str | None = None) -> str:
    """prometheus.yml scraping the sidecar's admin port (and the operator's and Triton's metrics when given).

    Triton's job is named as the chart's alerts expect (`job=~".*triton.*"`), so they evaluate here too.
    """
    jobs = [{"job_name": "guardrail-sidecar", "static_configs": [{"targets": [sidecar_admin]}]}]
    if operator_metrics:
        jobs.append({"job_name": "guardrail-operator", "static_configs": [{"targets": [operator_metrics]}]})
    if triton_metrics:
        jobs.append({"job_name": "triton", "static_configs": [{"targets": [triton_metrics]}]})
    body = {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "scrape_configs": jobs,
    }
    return yaml.safe_dump(body, sort_keys=False)


def command(binary: str, config_file: Path, data_dir: Path, port: int) -> list[str]:
    return [
        binary,
        f"--config.file={config_file}",
        f"--storage.tsdb.path={data_dir}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=1h",
        "--log.level=warn",
    ]


TRITON_MODELS_QUERY = "sum by (model) (nv_inference_request_success)"


def query(url: str, promql: str) -> list[dict[str, Any]]:
    """The instant-query result of `promql` at the Prometheus at `url` (its `data.result` list)."""
    response = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=10)
    body = response.json()
    if body.get("status") != "success":
        raise DemoError(f"Prometheus rejected {promql!r}: {body.get('error', response.text[:200])}")
    return list(body["data"]["result"])


def find_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        raise DemoError("prometheus is not installed: run `make system-deps` (Debian's prometheus package)")
    return found
