"""Guardrail operator: reconciles Guardrail resources into Triton, Qdrant, configs and RBAC."""
