"""Time from applying Guardrails to `Ready=True` for 1, 100 and 500 Guardrails, and the operator's memory.

Starts its own local control plane (kube-apiserver, etcd, controller-manager, scheduler, kwok) in a temporary
directory, adds one large kwok GPU node so every Triton pod can be scheduled, runs `guardrail-operator` as a
subprocess, creates N Guardrails (no knowledge base: one Triton Deployment each) in one `kubectl create`, and
polls until every one reports `Ready=True` for its current generation. Reports per-Guardrail latency
percentiles, the time until all were ready, and the operator's resident memory (VmRSS, peak VmHWM).
Writes bench/results/operator_apply_to_ready.json. `--quick` runs 1 and 20.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from guardrail_devcluster.cluster import LocalCluster, free_port
from guardrail_operator.clients.k8s import KubeClient, load_api_client

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "operator_apply_to_ready.json"
BENCH_NODE = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {
        "name": "kwok-bench-gpu",
        "labels": {"type": "kwok", "kubernetes.io/hostname": "kwok-bench-gpu", "nvidia.com/gpu.present": "true"},
        "annotations": {"kwok.x-k8s.io/node": "fake"},
    },
    "spec": {},
    "status": {
        "allocatable": {"cpu": "1000", "memory": "4Ti", "pods": "1000", "nvidia.com/gpu": "1000"},
        "capacity": {"cpu": "1000", "memory": "4Ti", "pods": "1000", "nvidia.com/gpu": "1000"},
    },
}


def guardrails(namespace: str, count: int) -> str:
    example = yaml.safe_load((REPO / "examples" / "guardrail.yaml").read_text())
    del example["spec"]["knowledgeBase"]
    docs = []
    for i in range(count):
        body = json.loads(json.dumps(example))
        body["metadata"] = {"name": f"gr-{i:04d}", "namespace": namespace}
        docs.append(body)
    return yaml.safe_dump_all(docs)


def memory_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


def progress(kube: KubeClient, namespace: str) -> tuple[set[str], set[str]]:
    """Guardrails whose status describes the current generation (reconciled), and those also Ready."""
    reconciled, ready = set(), set()
    for item in kube.list("Guardrail", namespace):
        status = item.get("status", {})
        if status.get("observedGeneration") != item["metadata"]["generation"]:
            continue
        reconciled.add(item["metadata"]["name"])
        if any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", [])):
            ready.add(item["metadata"]["name"])
    return reconciled, ready


def run_round(cluster: LocalCluster, kube: KubeClient, count: int, timeout: float) -> dict[str, Any]:
    namespace = f"bench-{count}"
    cluster.kubectl("create", "namespace", namespace)
    manifest = guardrails(namespace, count)
    started = time.monotonic()
    cluster.kubectl("create", "-f", "-", input=manifest, timeout=300)
    applied = time.monotonic() - started
    first_ready: dict[str, float] = {}
    first_reconciled: dict[str, float] = {}
    while len(first_ready) < count and time.monotonic() - started < timeout:
        now = time.monotonic() - started
        reconciled, ready = progress(kube, namespace)
        first_reconciled.update(dict.fromkeys(reconciled - first_reconciled.keys(), now))
        first_ready.update(dict.fromkeys(ready - first_ready.keys(), now))
        time.sleep(0.25)
    latencies = sorted(first_ready.values())
    result: dict[str, Any] = {
        "guardrails": count,
        "ready": len(latencies),
        "kubectl_create_s": round(applied, 2),
        "all_reconciled_s": round(max(first_reconciled.values()), 2) if len(first_reconciled) == count else None,
        "all_ready_s": round(latencies[-1], 2) if len(latencies) == count else None,
    }
    if latencies:
        result["p50_s"] = round(statistics.median(latencies), 2)
        result["p95_s"] = round(latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))], 2)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1 and 20 Guardrails instead of 1, 100 and 500")
    args = parser.parse_args()
    sizes = [1, 20] if args.quick else [1, 100, 500]
    with tempfile.TemporaryDirectory(prefix="guardrail-bench-") as tmp:
        cluster = LocalCluster(Path(tmp) / "cluster")
        print("starting the control plane ...", flush=True)
        cluster.start()
        operator = None
        try:
            cluster.kubectl("apply", "-f", "-", input=json.dumps(BENCH_NODE))
            kube = KubeClient(load_api_client(str(cluster.kubeconfig)), "guardrail-bench")
            port = free_port()
            env = {
                **cluster.env,
                "GUARDRAIL_METRICS_HOST": "127.0.0.1",
                "GUARDRAIL_METRICS_PORT": str(port),
                "GUARDRAIL_RESYNC_SECONDS": "600",
                "GUARDRAIL_LEASE_NAMESPACE": "default",
            }
            env.pop("GUARDRAIL_WEBHOOK_ENABLED", None)
            log = (Path(tmp) / "operator.log").open("w")
            operator = subprocess.Popen(
                [sys.executable, "-m", "guardrail_operator.main"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).json()["leader"]:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            idle = memory_kib(operator.pid)
            rounds = []
            for count in sizes:
                print(f"applying {count} Guardrails ...", flush=True)
                result = run_round(cluster, kube, count, timeout=240)
                result["operator_memory_kib"] = memory_kib(operator.pid)
                print(json.dumps(result), flush=True)
                rounds.append(result)
        finally:
            if operator is not None:
                operator.terminate()
                operator.wait(timeout=15)
            cluster.stop()
    report = {
        "benchmark": "operator_apply_to_ready",
        "quick": args.quick,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "operator_idle_memory_kib": idle,
        "rounds": rounds,
        "note": "Seconds from the start of one `kubectl create` of all N Guardrails: all_reconciled_s until every "
        "status describes its generation (children applied, first status written by the operator); p50/p95/"
        "all_ready_s until Ready=True, which also waits for kube-controller-manager, the scheduler and kwok "
        "(pods are ready as soon as they are scheduled). Rounds run in order in one cluster.",
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
