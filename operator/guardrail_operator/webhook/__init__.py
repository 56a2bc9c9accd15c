"""Sidecar injection: the pure decision (injection) and the kopf admission webhook around it (admission)."""
