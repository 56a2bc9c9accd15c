"""The app NetworkPolicy: the pods a Guardrail selects accept traffic only on the sidecar's ports. Pure.

The sidecar forwards to the app over the pod's loopback interface, which NetworkPolicy does not filter, so
the app's own port (`spec.proxy.upstreamPort`) is reachable only through the sidecar once this policy is in
place. The admin port (health, metrics) stays open for probes and Prometheus. Egress is not restricted: the
sidecar calls Triton, Qdrant and the API server, and the app calls whatever it calls.
"""

from __future__ import annotations

from guardrail_contract.guardrail import Guardrail
from guardrail_contract.sidecar_config import SidecarConfig
from guardrail_operator.builders.common import Manifest, child_name, labels, metadata

SIDECAR_ADMIN_PORT: int = SidecarConfig.model_fields["admin_port"].default


def network_policy_name(guardrail: Guardrail) -> str:
    return child_name(guardrail, "sidecar-only")


def build_network_policy(guardrail: Guardrail) -> Manifest:
    """Ingress to the selected pods only on `proxy.listenPort` and the sidecar's admin port."""
    spec = guardrail.spec
    selector: Manifest = {}
    if spec.selector.match_labels:
        selector["matchLabels"] = dict(spec.selector.match_labels)
    if spec.selector.match_expressions:
        selector["matchExpressions"] = [
            {"key": r.key, "operator": r.operator, **({"values": list(r.values)} if r.values else {})}
            for r in spec.selector.match_expressions
        ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(
            network_policy_name(guardrail), guardrail, labels(guardrail, "guardrail-network-policy", "network-policy")
        ),
        "spec": {
            "podSelector": selector,
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "ports": [
                        {"port": spec.proxy.listen_port, "protocol": "TCP"},
                        {"port": SIDECAR_ADMIN_PORT, "protocol": "TCP"},
                    ]
                }
            ],
        },
    }
