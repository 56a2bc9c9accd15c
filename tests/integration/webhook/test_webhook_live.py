"""The injection webhook, served by a local kopf operator and called by the real API server.

The chart's own MutatingWebhookConfiguration is rendered with helm and pointed at the local server
(https://127.0.0.1:<port>), then Pods are created with kubectl, exactly as a user would.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from guardrail_devcluster.cluster import REPO_ROOT, LocalCluster, free_port
from guardrail_operator.webhook.admission import WEBHOOK_ID
from guardrail_operator.webhook.injection import INJECTED_ANNOTATION, SIDECAR_NAME
from tests.integration.webhook.tls import write_self_signed

pytestmark = pytest.mark.integration

CHART = REPO_ROOT / "charts" / "guardrail-operator"
SIDECAR_IMAGE = "registry.example/guardrail-sidecar:it"
RESTRICTED = {
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


@dataclass(frozen=True)
class Env:
    cluster: LocalCluster
    url: str
    ca: bytes
    labelled: str  # opted in (and enforcing the restricted Pod Security Standard)
    unlabelled: str
    strict: str  # opted in and labelled guardrails.dev/allow-opt-out=false


def _kubectl_json(cluster: LocalCluster, *args: str, manifest: dict[str, Any] | None = None) -> Any:
    out = cluster.kubectl(*args, "-o", "json", input=json.dumps(manifest) if manifest else None).stdout
    return json.loads(out)


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"kopf exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    pytest.fail(f"the webhook server did not listen on {port}:\n{log.read_text()[-4000:]}")


def webhook_configuration(
    cluster: LocalCluster, name: str, url: str, ca: bytes, policy: str, namespaces: list[str]
) -> dict[str, Any]:
    """The chart's MutatingWebhookConfiguration, re-pointed at `url` (each entry at its own path on that
    server) and limited to `namespaces`."""
    rendered = cluster.helm(
        "template", "gr", str(CHART), "-n", "guardrail-system", "--kube-version", "1.36.3",
        "--show-only", "templates/mutatingwebhookconfiguration.yaml", "--set", f"webhook.failurePolicy={policy}",
    ).stdout  # fmt: skip
    config: dict[str, Any] = yaml.safe_load(rendered)
    config["metadata"]["name"] = name
    base = url.rsplit("/", 1)[0]
    for hook in config["webhooks"]:
        path = hook["clientConfig"]["service"]["path"]
        hook["clientConfig"] = {"url": base + path, "caBundle": base64.b64encode(ca).decode()}
        # Only this test's namespaces: other tests share the control plane.
        hook["namespaceSelector"]["matchExpressions"].append(
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": namespaces}
        )
    return config


def pod(name: str, labels: dict[str, str], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels, "annotations": annotations or {}},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "registry.example/llm-app:1",
                    "ports": [{"containerPort": 8080}],
                    "securityContext": RESTRICTED,
                }
            ]
        },
    }


def guardrail(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "guardrails.dev/v1alpha1",
        "kind": "Guardrail",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": "bot"}},
            "proxy": {"listenPort": 8000, "upstreamPort": 8080},
            "models": {"repository": {"uri": "s3://models/guardrails"}},
        },
    }


def sidecars(p: dict[str, Any]) -> list[dict[str, Any]]:
    spec = p["spec"]
    return [c for c in spec.get("initContainers", []) + spec["containers"] if c["name"] == SIDECAR_NAME]


@pytest.fixture(scope="module")
def env(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("webhook")
    ca = write_self_signed(tmp / "certs")
    port = free_port()
    suffix = uuid.uuid4().hex[:6]
    labelled, unlabelled, hook = f"wh-in-{suffix}", f"wh-out-{suffix}", f"guardrail-it-{suffix}"
    strict = f"wh-strict-{suffix}"
    namespaces = [labelled, unlabelled, strict]
    for ns in namespaces:
        cluster.kubectl("create", "namespace", ns)
    for ns in (labelled, strict):
        cluster.kubectl(
            "label", "namespace", ns, "guardrails.dev/injection=enabled",
            "pod-security.kubernetes.io/enforce=restricted",
        )  # fmt: skip
    cluster.kubectl("label", "namespace", strict, "guardrails.dev/allow-opt-out=false")
    for ns in namespaces:
        cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(guardrail("bot")))

    log = tmp / "kopf.log"
    operator_env = {
        **cluster.env,
        "GUARDRAIL_WEBHOOK_ENABLED": "true",
        "GUARDRAIL_WEBHOOK_ADDR": "127.0.0.1",
        "GUARDRAIL_WEBHOOK_PORT": str(port),
        "GUARDRAIL_WEBHOOK_CERT_DIR": str(tmp / "certs"),
        "GUARDRAIL_SIDECAR_IMAGE": SIDECAR_IMAGE,
    }
    cmd = [sys.executable, "-m", "kopf", "run", "--standalone", *(a for ns in namespaces for a in ("-n", ns))]
    with log.open("wb") as out:
        module = "guardrail_operator.webhook.admission"
        proc = subprocess.Popen([*cmd, "-m", module], env=operator_env, stdout=out, stderr=out)
    url = f"https://127.0.0.1:{port}/{WEBHOOK_ID}"
    try:
        _wait_for_port(port, proc, log)
        config = webhook_configuration(cluster, hook, url, ca, "Fail", namespaces)
        cluster.kubectl("apply", "-f", "-", input=json.dumps(config))
        yield Env(cluster, url, ca, labelled, unlabelled, strict)
    finally:
        cluster.kubectl("delete", "mutatingwebhookconfiguration", hook, "--ignore-not-found", check=False)
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for ns in namespaces:
            cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def _create(env: Env, namespace: str, manifest: dict[str, Any], *extra: str) -> Any:
    return _kubectl_json(env.cluster, "create", "-n", namespace, "-f", "-", *extra, manifest=manifest)


def _wait_until_indexed(env: Env, namespace: str | None = None) -> None:
    """kopf's index fills from its watch: dry-run creates (which also call webhooks) until one injects."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if sidecars(_create(env, namespace or env.labelled, pod("probe", {"app": "bot"}), "--dry-run=server")):
            return
        time.sleep(0.3)
    pytest.fail("the webhook never injected: the Guardrail did not reach kopf's index")


def test_a_selected_pod_in_a_labelled_namespace_gets_a_valid_restricted_sidecar(env: Env) -> None:
    _wait_until_indexed(env)
    created = _create(env, env.labelled, pod("bot-1", {"app": "bot"}))

    stored = _kubectl_json(env.cluster, "get", "pod", "bot-1", "-n", env.labelled)
    assert stored["metadata"]["uid"] == created["metadata"]["uid"]
    (sidecar,) = sidecars(stored)
    assert sidecar["image"] == SIDECAR_IMAGE
    assert sidecar["restartPolicy"] == "Always", "a native sidecar, accepted by the API server"
    assert sidecar["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert sidecar["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert stored["metadata"]["annotations"][INJECTED_ANNOTATION] == "bot"
    volumes = {v["name"]: v for v in stored["spec"]["volumes"]}
    assert volumes["guardrail-config"]["configMap"]["name"].startswith("bot-config-")

    # The namespace enforces the restricted Pod Security Standard, so admitting the sidecar means it complies:
    # the same pod with a non-compliant app container is refused.
    loose = pod("loose", {"app": "other"})
    del loose["spec"]["containers"][0]["securityContext"]
    refused = env.cluster.kubectl("create", "-n", env.labelled, "-f", "-", check=False, input=json.dumps(loose))
    assert refused.returncode != 0
    assert "violates PodSecurity" in refused.stderr


def test_pods_the_guardrail_does_not_select_are_left_alone(env: Env) -> None:
    _wait_until_indexed(env)
    assert sidecars(_create(env, env.labelled, pod("other-1", {"app": "other"}))) == []


def test_the_opt_out_annotation_is_honoured(env: Env) -> None:
    _wait_until_indexed(env)
    opted_out = pod("bot-optout", {"app": "bot"}, {"guardrails.dev/inject": "false"})
    assert sidecars(_create(env, env.labelled, opted_out)) == []


def test_a_strict_namespace_ignores_the_opt_out_annotation(env: Env) -> None:
    _wait_until_indexed(env, env.strict)
    opted_out = pod("bot-optout", {"app": "bot"}, {"guardrails.dev/inject": "false"})
    result = env.cluster.kubectl(
        "create", "-n", env.strict, "-f", "-", "-o", "json", input=json.dumps(opted_out)
    )  # fmt: skip
    assert len(sidecars(json.loads(result.stdout))) == 1
    assert "allow-opt-out" in result.stderr, "kubectl shows the warning"


def test_a_strict_namespace_refuses_a_pod_that_cannot_get_its_sidecar(env: Env) -> None:
    _wait_until_indexed(env, env.strict)
    blocking = pod("bot-blocking", {"app": "bot"})
    blocking["spec"]["containers"][0]["ports"] = [{"containerPort": 9901}]  # the sidecar's admin port
    refused = env.cluster.kubectl("create", "-n", env.strict, "-f", "-", check=False, input=json.dumps(blocking))
    assert refused.returncode != 0
    assert "allow-opt-out=false" in refused.stderr
    assert "9901" in refused.stderr
    fake = pod("bot-fake", {"app": "bot"}, {INJECTED_ANNOTATION: "bot"})
    fake["spec"]["containers"].append({**fake["spec"]["containers"][0], "name": SIDECAR_NAME, "ports": []})
    refused = env.cluster.kubectl("create", "-n", env.strict, "-f", "-", check=False, input=json.dumps(fake))
    assert refused.returncode != 0, "a look-alike sidecar is not the guardrail"
    # The lenient namespace admits the same pod with a warning instead.
    admitted = env.cluster.kubectl("create", "-n", env.labelled, "-f", "-", "-o", "json", input=json.dumps(blocking))
    assert sidecars(json.loads(admitted.stdout)) == []


def test_a_strict_namespace_refuses_swapping_a_running_pods_sidecar_image(env: Env) -> None:
    _wait_until_indexed(env, env.strict)
    _create(env, env.strict, pod("bot-running", {"app": "bot"}))
    swap = [{"op": "replace", "path": "/spec/initContainers/0/image", "value": "registry.example/passthrough:1"}]
    refused = env.cluster.kubectl(
        "patch", "pod", "bot-running", "-n", env.strict, "--type=json", "-p", json.dumps(swap), check=False
    )
    assert refused.returncode != 0
    assert "may not be changed" in refused.stderr
    env.cluster.kubectl("label", "pod", "bot-running", "-n", env.strict, "team=web")  # other updates pass
    stored = _kubectl_json(env.cluster, "get", "pod", "bot-running", "-n", env.strict)
    assert sidecars(stored)[0]["image"] == SIDECAR_IMAGE


def test_an_unlabelled_namespace_is_not_sent_to_the_webhook(env: Env) -> None:
    _wait_until_indexed(env)
    assert sidecars(_create(env, env.unlabelled, pod("bot-1", {"app": "bot"}))) == []


def test_admitting_an_injected_pod_again_injects_nothing(env: Env) -> None:
    _wait_until_indexed(env)
    first = _create(env, env.labelled, pod("bot-twice", {"app": "bot"}), "--dry-run=server")
    again = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bot-again", **{
        k: first["metadata"][k] for k in ("labels", "annotations")}}, "spec": first["spec"]}  # fmt: skip
    assert len(sidecars(_create(env, env.labelled, again))) == 1


@pytest.mark.parametrize("policy", ["Fail", "Ignore"])
def test_with_the_webhook_down_the_failure_policy_decides(env: Env, policy: str) -> None:
    """A webhook configuration whose server is gone: Fail rejects the pod, Ignore admits it unmodified."""
    namespace = f"wh-down-{policy.lower()}-{uuid.uuid4().hex[:6]}"
    name = f"guardrail-down-{namespace}"
    env.cluster.kubectl("create", "namespace", namespace)
    env.cluster.kubectl("label", "namespace", namespace, "guardrails.dev/injection=enabled")
    dead = f"https://127.0.0.1:{free_port()}/{WEBHOOK_ID}"  # nothing listens there
    config = webhook_configuration(env.cluster, name, dead, env.ca, policy, [namespace])
    config["webhooks"][0]["timeoutSeconds"] = 2
    env.cluster.kubectl("apply", "-f", "-", input=json.dumps(config))
    try:
        result = env.cluster.kubectl(
            "create", "-n", namespace, "-f", "-", "-o", "json", check=False,
            input=json.dumps(pod("bot-1", {"app": "bot"})),
        )  # fmt: skip
        if policy == "Fail":
            assert result.returncode != 0
            assert "failed calling webhook" in result.stderr
        else:
            assert result.returncode == 0, result.stderr
            assert sidecars(json.loads(result.stdout)) == []
    finally:
        env.cluster.kubectl("delete", "mutatingwebhookconfiguration", name, "--ignore-not-found", check=False)
        env.cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
