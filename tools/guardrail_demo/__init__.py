"""`guardrail demo`: the whole product on one machine (control plane, operator, v2 server, sidecar, app, Prometheus)."""
