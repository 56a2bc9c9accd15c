"""Pure parts of the control-plane build: wrapper modules and binary names."""

from __future__ import annotations

from guardrail_devcluster.build import _go_binary_name, _go_mod
from guardrail_devcluster.versions import KUBERNETES, tools


def test_binary_names_follow_go_rules() -> None:
    assert _go_binary_name("go.etcd.io/etcd/server/v3") == "server"
    assert _go_binary_name("k8s.io/kubernetes/cmd/kube-apiserver") == "kube-apiserver"
    assert _go_binary_name("helm.sh/helm/v3/cmd/helm") == "helm"


def test_kubernetes_wrapper_pins_every_staging_module_to_the_published_version() -> None:
    kubernetes = next(t for t in tools() if t.name == "kubernetes")
    mod = _go_mod(kubernetes)
    assert f"require k8s.io/kubernetes v{KUBERNETES}" in mod
    staging = "v0." + KUBERNETES.split(".", 1)[1]
    assert f"k8s.io/client-go => k8s.io/client-go {staging}" in mod
    assert mod.count(" => ") == len(kubernetes.replaces) > 25


def test_kubernetes_binaries_carry_their_version() -> None:
    kubernetes = next(t for t in tools() if t.name == "kubernetes")
    assert f"-X k8s.io/component-base/version.gitVersion=v{KUBERNETES}" in kubernetes.ldflags
