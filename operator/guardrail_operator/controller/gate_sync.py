"""The I/O edge of the gates before a candidate's first step (`rollout.gates`): the eval Job and the shadow
analysis's Prometheus queries.

- eval (`AnalysisWindow.stage == "eval"`): create the eval Job of the candidate once (`builders.eval_job`; its
  name carries the revision), then read it: running -> inconclusive (poll again), failed -> a failed gate with
  the Job's reason, succeeded -> the result its Pod left in the termination message, judged against
  `spec.rollout.evalGate` (`gates.judge_eval`).
- shadow (`stage == "shadow"`): the shadow queries against `spec.rollout.analysis.prometheus`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from guardrail_contract.guardrail import Guardrail
from guardrail_operator.builders.eval_job import EVAL_CONTAINER, build_eval_job, eval_job_name
from guardrail_operator.clients.k8s import KubeClient
from guardrail_operator.clients.prometheus import Prometheus
from guardrail_operator.errors import Conflict, NotFound
from guardrail_operator.kb.ingestion import job_view
from guardrail_operator.rollout.actions import AnalysisWindow
from guardrail_operator.rollout.gates import EvalFailed, EvalInconclusive, EvalPassed, judge_eval
from guardrail_operator.rollout.shadow import ShadowInconclusive, ShadowResult, analyse_shadow

JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


def eval_result(pods: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The JSON the eval container left in its termination message (success or `{"error"}`), if any."""
    for pod in pods:
        for container in (pod.get("status") or {}).get("containerStatuses") or []:
            terminated = (container.get("state") or {}).get("terminated") or {}
            if container.get("name") != EVAL_CONTAINER or not terminated:
                continue
            try:
                result = json.loads(terminated.get("message") or "")
            except ValueError:
                continue
            if isinstance(result, dict):
                return result
    return None


def run_eval_gate(
    kube: KubeClient, guardrail: Guardrail, window: AnalysisWindow, image: str
) -> EvalPassed | EvalFailed | EvalInconclusive:
    """Start the candidate's eval Job if needed and judge its result once it has one."""
    gate = guardrail.spec.rollout.eval_gate
    if gate is None:
        return EvalInconclusive("spec.rollout.evalGate was removed; moving on")
    namespace = str(guardrail.metadata["namespace"])
    name = eval_job_name(guardrail, window.canary_revision)
    try:
        job = kube.get("Job", namespace, name)
    except NotFound:
        manifest = build_eval_job(
            guardrail, image=image, stable=window.stable_revision, candidate=window.canary_revision
        )
        with contextlib.suppress(Conflict):
            kube.create(manifest)
        return EvalInconclusive(f"eval Job {name} started")
    view = job_view(job)
    if view.state == "Active":
        return EvalInconclusive(f"eval Job {name} is running")
    result = eval_result(kube.list("Pod", namespace, f"{JOB_NAME_LABEL}={name}"))
    if view.state == "Failed":
        why = str(result.get("error")) if result and "error" in result else f"{view.reason}: {view.message}"
        return judge_eval({"error": f"eval Job {name} failed: {why}"}, gate, name)
    if result is None:
        return EvalInconclusive(f"eval Job {name} succeeded but left no result yet")
    return judge_eval(result, gate, name)


def analyse_shadow_stage(guardrail: Guardrail, window: AnalysisWindow) -> ShadowResult:
    """The shadow analysis against the Prometheus named in `spec.rollout.analysis`."""
    rollout = guardrail.spec.rollout
    if rollout.analysis.prometheus is None or rollout.shadow is None:
        return ShadowInconclusive("no Prometheus or no shadow stage configured")
    with Prometheus(rollout.analysis.prometheus.url) as prometheus:
        return analyse_shadow(prometheus.query, window, rollout.shadow)
