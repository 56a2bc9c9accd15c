"""Pinned versions of every binary the local control plane is built from (Go modules via the module proxy)."""

from __future__ import annotations

from dataclasses import dataclass, field

KUBERNETES = "1.36.3"
ETCD = "3.6.8"  # the etcd release Kubernetes 1.36.3 is tested with
KWOK = "0.8.0"
HELM = "3.22.0"
# The real node (`up --real-node`): kubelet and kube-proxy from the same Kubernetes module; DNS and the CRI CLI.
COREDNS = "1.14.7"
CRICTL = "1.36.0"  # cri-tools follows the Kubernetes minor
GO_MIN = (1, 26)  # oldest Go that builds all of the above; newer toolchains are fetched via the proxy

# Staging modules that k8s.io/kubernetes replaces with ./staging/src/...; a wrapper module pins each to the
# published v0.<minor>.<patch> so `go build` can resolve k8s.io/kubernetes from the module proxy.
K8S_STAGING = (
    "api",
    "apiextensions-apiserver",
    "apimachinery",
    "apiserver",
    "cli-runtime",
    "client-go",
    "cloud-provider",
    "cluster-bootstrap",
    "code-generator",
    "component-base",
    "component-helpers",
    "controller-manager",
    "cri-api",
    "cri-client",
    "cri-streaming",
    "csi-translation-lib",
    "dynamic-resource-allocation",
    "endpointslice",
    "externaljwt",
    "kms",
    "kube-aggregator",
    "kube-controller-manager",
    "kube-proxy",
    "kube-scheduler",
    "kubectl",
    "kubelet",
    "metrics",
    "mount-utils",
    "pod-security-admission",
    "sample-apiserver",
    "streaming",
)


@dataclass(frozen=True)
class Tool:
    """One Go module to build and the binaries it yields (name -> package path)."""

    name: str
    module: str
    version: str
    binaries: dict[str, str]
    replaces: dict[str, str] = field(default_factory=dict)
    ldflags: tuple[str, ...] = ()
    # Files of the module itself concatenated into `<name>-assets.yaml` beside the binaries (kwok's stages).
    assets: tuple[str, ...] = ()


def _k8s_ldflags(version: str) -> tuple[str, ...]:
    major, minor, _ = version.split(".")
    out: list[str] = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        out += [
            f"-X {pkg}.gitVersion=v{version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    return tuple(out)


def tools() -> list[Tool]:
    """Everything the control plane needs, in build order (smallest first, so errors show early)."""
    staging = f"0.{KUBERNETES.split('.', 1)[1]}"
    return [
        Tool("etcd", "go.etcd.io/etcd/server/v3", f"v{ETCD}", {"etcd": "go.etcd.io/etcd/server/v3"}),
        Tool(
            "helm",
            "helm.sh/helm/v3",
            f"v{HELM}",
            {"helm": "helm.sh/helm/v3/cmd/helm"},
            ldflags=(f"-X helm.sh/helm/v3/internal/version.version=v{HELM}",),
        ),
        Tool(
            "kwok",
            "sigs.k8s.io/kwok",
            f"v{KWOK}",
            {"kwok": "sigs.k8s.io/kwok/cmd/kwok"},
            assets=tuple(
                f"kustomize/stage/{p}.yaml"
                for p in (
                    "node/fast/node-initialize",
                    "node/heartbeat-with-lease/node-heartbeat-with-lease",
                    "pod/fast/pod-ready",
                    "pod/fast/pod-complete",
                    "pod/fast/pod-delete",
                )
            ),
        ),
        Tool(
            "kubernetes",
            "k8s.io/kubernetes",
            f"v{KUBERNETES}",
            {
                b: f"k8s.io/kubernetes/cmd/{b}"
                for b in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
            },
            replaces={f"k8s.io/{m}": f"k8s.io/{m} v{staging}" for m in K8S_STAGING},
            ldflags=_k8s_ldflags(KUBERNETES),
        ),
    ]


def node_tools() -> list[Tool]:
    """What the one real node adds: kubelet and kube-proxy (the same module and pins as the control plane, so the
    Go build cache is shared), CoreDNS (cluster DNS, run on the host) and crictl (to inspect the node's pods)."""
    kubernetes = next(t for t in tools() if t.name == "kubernetes")
    return [
        Tool(
            "kubernetes-node",
            kubernetes.module,
            kubernetes.version,
            {b: f"k8s.io/kubernetes/cmd/{b}" for b in ("kubelet", "kube-proxy")},
            replaces=kubernetes.replaces,
            ldflags=kubernetes.ldflags,
        ),
        Tool("coredns", "github.com/coredns/coredns", f"v{COREDNS}", {"coredns": "github.com/coredns/coredns"}),
        Tool("crictl", "sigs.k8s.io/cri-tools", f"v{CRICTL}", {"crictl": "sigs.k8s.io/cri-tools/cmd/crictl"}),
    ]
