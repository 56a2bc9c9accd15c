"""The chart's RBAC with `operator.watchNamespaces` on the real control plane: what the operator's service
account may do where (`kubectl auth can-i --as`), and the operator running as that service account.

The chart's own RBAC templates are rendered with helm and applied; the API server's authorizer answers.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from guardrail_devcluster.cluster import REPO_ROOT, LocalCluster
from guardrail_operator.clients.k8s import KubeClient
from tests.integration.operator.helpers import OperatorProcess, apply, children, example_guardrail, healthy, wait_for

pytestmark = pytest.mark.integration

CHART = REPO_ROOT / "charts" / "guardrail-operator"
RBAC_TEMPLATES = (
    "serviceaccount.yaml",
    "clusterrole.yaml",
    "clusterrolebinding.yaml",
    "role.yaml",
    "rolebinding.yaml",
    "watched-roles.yaml",
)


@dataclass(frozen=True)
class Install:
    cluster: LocalCluster
    release: str
    release_namespace: str
    watched: str
    unwatched: str

    @property
    def account(self) -> str:
        return f"{self.release}-guardrail-operator"

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.release_namespace}:{self.account}"

    def can(self, verb: str, resource: str, namespace: str | None = None) -> bool:
        where = ["--all-namespaces"] if namespace is None else ["-n", namespace]
        result = self.cluster.kubectl("auth", "can-i", verb, resource, *where, f"--as={self.user}", check=False)
        answer = result.stdout.strip()
        assert answer in ("yes", "no"), result.stderr
        return answer == "yes"


@pytest.fixture
def install(cluster: LocalCluster, namespace: str) -> Iterator[Install]:
    """The chart's RBAC (release `gr-<id>` in its own namespace) watching the test namespace only."""
    suffix = uuid.uuid4().hex[:6]
    release, release_ns, unwatched = f"gr-{suffix}", f"guardrail-{suffix}", f"t-unwatched-{suffix}"
    for ns in (release_ns, unwatched):
        cluster.kubectl("create", "namespace", ns)
    show = [arg for template in RBAC_TEMPLATES for arg in ("--show-only", f"templates/{template}")]
    rendered = cluster.helm(
        "template", release, str(CHART), "-n", release_ns, "--kube-version", "1.36.3",
        "--set-json", f"operator.watchNamespaces={json.dumps([namespace])}", *show,
    ).stdout  # fmt: skip
    cluster.kubectl("apply", "-f", "-", input=rendered)  # every object names its namespace
    try:
        yield Install(cluster, release, release_ns, namespace, unwatched)
    finally:
        name = f"{release}-guardrail-operator"
        cluster.kubectl("delete", "clusterrolebinding,clusterrole", name, "--ignore-not-found", check=False)
        for ns in (release_ns, unwatched):
            cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


# What the operator must be able to do in a namespace it watches.
NEEDED_IN_WATCHED = [
    ("patch", "guardrails.guardrails.dev"),
    ("patch", "guardrails.guardrails.dev/status"),
    ("create", "deployments.apps"),
    ("delete", "statefulsets.apps"),
    ("patch", "configmaps"),
    ("create", "networkpolicies.networking.k8s.io"),
    ("create", "roles.rbac.authorization.k8s.io"),
    ("create", "jobs.batch"),
    ("list", "pods"),
    ("create", "secrets"),  # the generated Qdrant API key
    ("create", "events"),
]


def test_writes_are_allowed_only_in_watched_namespaces_and_secrets_are_never_readable(install: Install) -> None:
    for verb, resource in NEEDED_IN_WATCHED:
        assert install.can(verb, resource, install.watched), f"{verb} {resource} in the watched namespace"
        assert not install.can(verb, resource, install.unwatched), f"{verb} {resource} in an unwatched namespace"
    for verb in ("get", "list", "watch"):
        assert not install.can(verb, "secrets", install.watched), "Secrets are created, never read back"


def test_cluster_scope_is_read_only_and_limited_to_what_kopf_needs(install: Install) -> None:
    assert install.can("list", "customresourcedefinitions.apiextensions.k8s.io")
    assert install.can("watch", "customresourcedefinitions.apiextensions.k8s.io")
    assert install.can("list", "namespaces")
    for verb, resource in [
        ("list", "pods"),  # no cluster-wide pod reads
        ("get", "secrets"),
        ("create", "deployments.apps"),
        ("create", "customresourcedefinitions.apiextensions.k8s.io"),
        ("create", "namespaces"),
        ("create", "clusterroles.rbac.authorization.k8s.io"),
        ("create", "mutatingwebhookconfigurations.admissionregistration.k8s.io"),
        ("patch", "guardrails.guardrails.dev"),
    ]:
        assert not install.can(verb, resource), f"{verb} {resource} across the cluster"
    # The leader-election Lease, only in the release namespace.
    assert install.can("create", "leases.coordination.k8s.io", install.release_namespace)
    assert not install.can("create", "leases.coordination.k8s.io", install.watched)


def _service_account_kubeconfig(install: Install, path: Path) -> Path:
    """A kubeconfig authenticating as the operator's service account (a TokenRequest token)."""
    token = install.cluster.kubectl(
        "create", "token", install.account, "-n", install.release_namespace, "--duration=1h"
    ).stdout.strip()
    admin = yaml.safe_load(install.cluster.kubeconfig.read_text())
    admin["users"] = [{"name": "admin", "user": {"token": token}}]
    path.write_text(yaml.safe_dump(admin))
    path.chmod(0o600)
    return path


@pytest.mark.usefixtures("qdrant_volume")
def test_the_operator_runs_on_exactly_these_permissions(install: Install, kube: KubeClient, tmp_path: Path) -> None:
    """As its service account the operator reconciles the example (NetworkPolicy and the generated API key
    Secret included) without a single permission error, and leaves the unwatched namespace alone."""
    kubeconfig = _service_account_kubeconfig(install, tmp_path / "operator.kubeconfig")
    env = {
        "KUBECONFIG": str(kubeconfig),
        "GUARDRAIL_LEASE_NAMESPACE": install.release_namespace,
        "GUARDRAIL_LEASE_NAME": install.account,
    }
    op = OperatorProcess(install.cluster, install.watched, "op-rbac", tmp_path, env=env)
    try:
        apply(install.cluster, example_guardrail(install.watched))
        apply(install.cluster, example_guardrail(install.unwatched))
        wait_for("the example Guardrail to become Healthy", lambda: healthy(kube, install.watched), timeout=60)
        found = children(kube, install.watched)
        assert ("NetworkPolicy", "support-bot-sidecar-only") in found
        secret = install.cluster.kubectl(
            "get", "secret", "support-bot-qdrant-api-key", "-n", install.watched, "-o", "json"
        ).stdout
        assert json.loads(secret)["metadata"]["ownerReferences"][0]["kind"] == "Guardrail"
        assert children(kube, install.unwatched) == {}
    finally:
        op.stop()
    log = op.log()
    for problem in ("Forbidden", "Not enough permissions", " 403 "):
        assert problem not in log, f"{problem!r} in the operator log:\n{log[-3000:]}"
    assert json.loads(secret)["data"]["api-key"] not in log
