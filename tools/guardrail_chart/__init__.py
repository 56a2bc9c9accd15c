"""Helpers that keep the Helm chart in step with its sources (README generated from values.yaml)."""
