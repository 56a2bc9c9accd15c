"""`guardrail demo`: the whole product on one machine (control plane, operator, Triton, sidecar, app, Prometheus)."""
