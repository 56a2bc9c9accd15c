"""The `guardrail` command line: cluster, model, eval, kb and demo commands."""
