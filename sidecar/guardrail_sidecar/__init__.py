"""Guardrail scoring sidecar: a reverse proxy that grounds every LLM answer."""
