"""Helpers shared by tests: process management and a scripted fake LLM app."""
