"""The eval-gate Job (`spec.rollout.evalGate`): `guardrail eval --compare stable=... candidate=...` on a labelled
set, scored end to end through each revision's own sidecar config, so against the candidate's real backends
(its Triton, its knowledge base, its policy threshold). Pure: the reconciler supplies the revisions.

How the result reaches the operator (the same route as the knowledge-base Job's, `kb/job.py`):
- the container runs `python -m guardrail_cli.eval_gate --result-file /dev/termination-log --compose
  stable=/eval/stable --compose candidate=/eval/candidate --workdir /tmp/eval-gate -- guardrail eval
  /eval/dataset/<key> --compare stable=sidecar:/tmp/eval-gate/stable.yaml --compare
  candidate=sidecar:/tmp/eval-gate/candidate.yaml --json`; `eval_gate` writes each side's sidecar config (the
  mounted `sidecar.yaml` routing only to that revision's `revision.yaml`), runs the command, reduces its ranking
  to a small JSON (`{"candidateAUROC", "stableAUROC", "leadProbability", "falseBlockRate", "pairs"}`) and
  writes it to the termination message;
- the operator reads it from the succeeded Pod's `status.containerStatuses[].state.terminated.message`
  (Pods selected by `batch.kubernetes.io/job-name=<job>`), judges it against the gate's limits
  (`rollout.gates.judge_eval`) and advances or rolls back. The pod gets no API token.

The stable and candidate configs come from their revision ConfigMaps (`<guardrail>-config-<revision>`:
their `revision.yaml` and `sidecar.yaml`), mounted read-only; the dataset is a ConfigMap key or a file in a PVC.
"""

from __future__ import annotations

from guardrail_contract.durations import parse_duration
from guardrail_contract.gates import EvalGate
from guardrail_contract.guardrail import Guardrail
from guardrail_operator.builders.common import Manifest, child_name, labels, metadata
from guardrail_operator.builders.config import QDRANT_API_KEY_ENV, config_name
from guardrail_operator.builders.qdrant import qdrant_api_key_ref
from guardrail_operator.builders.security import container_security_context, pod_security_context

EVAL_CONTAINER = "eval"
EVAL_COMPONENT = "eval-gate"
TERMINATION_LOG = "/dev/termination-log"
DATASET_DIR = "/eval/dataset"
WORKDIR = "/tmp/eval-gate"  # noqa: S108  # the pod's own emptyDir
REVISION_ANNOTATION = "guardrails.dev/eval-candidate"


def eval_job_name(guardrail: Guardrail, candidate: str) -> str:
    return child_name(guardrail, "eval", candidate)


def _gate(guardrail: Guardrail) -> EvalGate:
    gate = guardrail.spec.rollout.eval_gate
    if gate is None:
        raise ValueError("spec.rollout.evalGate is not set: there is no eval gate to run")
    return gate


def eval_command(guardrail: Guardrail) -> list[str]:
    """The `guardrail eval` command line the Job runs (paths inside the pod)."""
    gate = _gate(guardrail)
    key = gate.dataset.key
    return [
        "guardrail",
        "eval",
        f"{DATASET_DIR}/{key}",
        "--compare",
        f"stable=sidecar:{WORKDIR}/stable.yaml",
        "--compare",
        f"candidate=sidecar:{WORKDIR}/candidate.yaml",
        "--json",
    ]


def eval_args(guardrail: Guardrail) -> list[str]:
    """The container's args: `eval_gate` composing each side's single-revision sidecar config (the mounted
    `sidecar.yaml` with that revision's `revision.yaml` as its only route: a canary's ConfigMap carries the
    stable + canary split), then running `eval_command` and writing the result to the termination log."""
    return [
        "python",
        "-m",
        "guardrail_cli.eval_gate",
        "--result-file",
        TERMINATION_LOG,
        "--compose",
        "stable=/eval/stable",
        "--compose",
        "candidate=/eval/candidate",
        "--workdir",
        WORKDIR,
        "--",
        *eval_command(guardrail),
    ]


def build_eval_job(guardrail: Guardrail, *, image: str, stable: str, candidate: str) -> Manifest:
    """The eval Job comparing revision `candidate` with `stable` (both revision ConfigMaps must exist)."""
    gate = _gate(guardrail)
    dataset = gate.dataset
    if dataset.config_map is not None:
        data_volume: Manifest = {"name": "dataset", "configMap": {"name": dataset.config_map}}
    else:
        data_volume = {"name": "dataset", "persistentVolumeClaim": {"claimName": dataset.pvc, "readOnly": True}}
    volumes = [
        data_volume,
        {"name": "stable", "configMap": {"name": config_name(guardrail, stable)}},
        {"name": "candidate", "configMap": {"name": config_name(guardrail, candidate)}},
        {"name": "tmp", "emptyDir": {}},
    ]
    mounts = [
        {"name": "dataset", "mountPath": DATASET_DIR, "readOnly": True},
        {"name": "stable", "mountPath": "/eval/stable", "readOnly": True},
        {"name": "candidate", "mountPath": "/eval/candidate", "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108  # the pod's own emptyDir (read-only root)
    ]
    container: Manifest = {
        "name": EVAL_CONTAINER,
        "image": image,
        "args": eval_args(guardrail),
        "volumeMounts": mounts,
        "terminationMessagePolicy": "File",
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "3Gi"}},
        "securityContext": container_security_context(),
    }
    ref = qdrant_api_key_ref(guardrail)
    if ref is not None:  # the sidecars it starts read the knowledge base like the app's sidecars do
        container["env"] = [
            {"name": QDRANT_API_KEY_ENV, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}
        ]
    object_labels = labels(guardrail, "guardrail-eval", EVAL_COMPONENT)
    deadline = max(60, int(parse_duration(gate.timeout).total_seconds()))
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(
            eval_job_name(guardrail, candidate),
            guardrail,
            object_labels,
            annotations={REVISION_ANNOTATION: candidate},
        ),
        "spec": {
            "backoffLimit": 0,  # a failed eval is a failed gate, not something to retry blindly
            "activeDeadlineSeconds": deadline,
            "ttlSecondsAfterFinished": 86400,
            "template": {
                "metadata": {"labels": object_labels},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security_context(65532),
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }
