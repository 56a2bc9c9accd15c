"""Scoring one revision: the pipeline (claims, evidence, NLI, injection, verdict), the model backends and their
cache.
"""
