"""Sidecar process settings: the one place the sidecar reads its `GUARDRAIL_*` environment variables.

| variable | default | meaning |
|---|---|---|
| `GUARDRAIL_CONFIG` | (none: `--config` is required) | The sidecar config file (the ConfigMap's `sidecar.yaml`). |
| `GUARDRAIL_EVENT_LOOP` | `auto` | `auto` (uvloop when installed), `uvloop` or `asyncio`. |
| named by `knowledgeBase.qdrant.apiKeyEnv` | unset | The Qdrant API key (`GUARDRAIL_QDRANT_API_KEY` as rendered). |

Tracing reads the standard `OTEL_*` variables (`guardrail_contract.tracing`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    config: str | None = None
    event_loop: str = "auto"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(config=env.get("GUARDRAIL_CONFIG") or None, event_loop=env.get("GUARDRAIL_EVENT_LOOP", "auto"))


def secret(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """The value of the variable a config names for a secret (e.g. the Qdrant API key), None when unset."""
    return (os.environ if env is None else env).get(name)
