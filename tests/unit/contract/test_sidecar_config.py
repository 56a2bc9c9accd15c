"""The revision config: wire form, round trip, and errors that name the field."""

from __future__ import annotations

import pytest

from guardrail_contract.sidecar_config import ConfigError, SidecarConfig

MINIMAL = """
routing:
  stable:
    revision: 5d8f0c1
    models: {backend: embedded, embedded: {repository: /models}}
"""

FULL = """
proxy: {listenPort: 8000, upstreamPort: 8080, protocol: json,
        jsonFields: {questionPath: q.text, contextPath: ctx, answerPath: out.answer}}
audit: {redactPatterns: ['sk-[A-Za-z0-9]+']}
routing:
  canaryWeight: 10
  stable:
    revision: 5d8f0c1
    policy: {mode: monitor, threshold: 0.4, softLimit: 0.7, onBackendError: fail-open,
             streaming: {holdBackSentences: 2}}
    models:
      backend: triton
      triton: {url: "triton:8001", protocol: grpc}
      tokenizerRepository: /tokenizers
      nli: {name: nli, version: "3"}
    knowledgeBase:
      qdrant: {url: "http://qdrant:6333", apiKeyEnv: QDRANT_API_KEY}
      collection: support-facts
      topK: 3
  canary:
    revision: 9ab12e4
    models: {backend: embedded, embedded: {repository: /models}}
watch: {namespace: shop, name: support-bot}
"""


def test_minimal_config_gets_documented_defaults() -> None:
    cfg = SidecarConfig.from_yaml(MINIMAL)
    assert cfg.proxy.listen_port == 8000
    assert cfg.routing.stable.policy.mode == "enforce"
    assert cfg.routing.stable.policy.streaming.hold_back_sentences == 1
    assert cfg.routing.canary is None
    assert cfg.routing.canary_weight == 0


def test_full_config_maps_camel_case_fields() -> None:
    cfg = SidecarConfig.from_yaml(FULL)
    stable = cfg.routing.stable
    assert cfg.proxy.json_fields.answer_path == "out.answer"
    assert stable.policy.on_backend_error == "fail-open"
    assert stable.models.triton is not None
    assert stable.models.triton.url == "triton:8001"
    assert stable.models.nli.version == "3"
    assert stable.models.tokenizers == "/tokenizers"
    assert stable.knowledge_base is not None
    assert stable.knowledge_base.qdrant.api_key_env == "QDRANT_API_KEY"
    assert cfg.routing.canary is not None
    assert cfg.routing.canary.revision == "9ab12e4"
    assert cfg.watch is not None
    assert cfg.watch.name == "support-bot"


def test_yaml_round_trip_is_lossless_and_camel_case() -> None:
    cfg = SidecarConfig.from_yaml(FULL)
    text = cfg.to_yaml()
    assert "canaryWeight: 10" in text
    assert "holdBackSentences: 2" in text
    assert SidecarConfig.from_yaml(text) == cfg


@pytest.mark.parametrize(
    ("text", "names"),
    [
        (MINIMAL.replace("embedded: {repository: /models}", "triton: null"), "models"),
        (MINIMAL + "proxy: {listenPort: 8080, upstreamPort: 8080}\n", "listenPort"),
        (
            MINIMAL.replace("revision: 5d8f0c1", "revision: a\n    policy: {threshold: 0.9, softLimit: 0.5}"),
            "softLimit",
        ),
        (MINIMAL + "audit: {redactPatterns: ['(']}\n", "redactPatterns"),
        (MINIMAL + "proxy: {upstreamTimeout: soon}\n", "upstreamTimeout"),
        (MINIMAL + "proxy: {listenPrt: 1}\n", "listenPrt"),
        ("routing: [1]", "routing"),
        ("- a list", "mapping"),
        ("a: [", "YAML"),
    ],
)
def test_invalid_config_error_names_the_field(text: str, names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        SidecarConfig.from_yaml(text)


def test_canary_must_be_a_different_revision() -> None:
    text = MINIMAL + "  canary: {revision: 5d8f0c1, models: {backend: embedded, embedded: {repository: /m}}}\n"
    with pytest.raises(ConfigError, match="canary"):
        SidecarConfig.from_yaml(text)


def test_scored_paths_default_by_protocol() -> None:
    cfg = SidecarConfig.from_yaml(MINIMAL)
    assert cfg.proxy.is_scored("POST", "/v1/chat/completions")
    assert not cfg.proxy.is_scored("GET", "/v1/chat/completions")
    assert not cfg.proxy.is_scored("POST", "/v1/embeddings")
    json_cfg = SidecarConfig.from_yaml(MINIMAL + "proxy: {protocol: json}\n")
    assert json_cfg.proxy.is_scored("POST", "/anything")
