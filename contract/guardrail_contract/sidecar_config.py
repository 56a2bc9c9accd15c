"""The revision config: what the operator renders into a ConfigMap and the sidecar runs.

Field names mirror `guardrail_contract.guardrail` (camelCase on the wire, snake_case in Python) so the mapping
from a Guardrail spec is one-to-one. A file holds one `SidecarConfig`: process-wide settings (proxy, admin
port, audit) plus a `routing` section naming the stable revision and an optional canary revision with its
weight.
Secrets never appear here: the Qdrant API key is named by an environment variable (`apiKeyEnv`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from guardrail_contract import guardrail as crd
from guardrail_contract.detectors import MAX_DETECTORS, Detectors
from guardrail_contract.durations import DURATION
from guardrail_contract.names import DNS_LABEL
from guardrail_contract.paths import canonical_path

# The openai protocol's scored paths by default: every API the sidecar speaks, with and without /v1.
DEFAULT_SCORED_PATHS = (
    "/v1/chat/completions",
    "/chat/completions",
    "/v1/completions",
    "/completions",
    "/v1/responses",
    "/responses",
    "/v1/messages",
    "/messages",
)
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})  # scored even without a body (any method with one is)


class ConfigError(ValueError):
    """The config file is missing, unreadable or invalid; the message names the field."""


class _Model(BaseModel):
    """camelCase on the wire, snake_case in Python, unknown fields rejected, immutable."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)

    def to_yaml(self) -> str:
        """The wire form (camelCase, defaults included) as YAML."""
        return yaml.safe_dump(self.model_dump(mode="json", by_alias=True, exclude_none=True), sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str) -> Self:
        """Parse and validate; a `ConfigError` names each offending field by its wire (camelCase) path."""
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"config is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__} config must be a YAML mapping")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(_describe(exc)) from exc


# --- proxy (process-wide)


class JsonFields(_Model):
    question_path: str = Field(default="question", description="Dotted path of the question in the request.")
    context_path: str = Field(default="context", description="Dotted path of optional context in the request.")
    answer_path: str = Field(default="answer", description="Dotted path of the answer in the response.")


class RateLimit(crd.RateLimit):
    """`spec.proxy.rateLimit` as rendered: the CRD's fields, defaults and identityHeader rule, written once there."""


class Timeouts(crd.Timeouts):
    """Server-side limits on a client connection (slow or idle clients are closed, never waited on): the CRD's
    `spec.proxy.timeouts`, written once there."""


class Proxy(_Model):
    listen_port: int = Field(default=8000, ge=1, le=65535)
    listen_host: str = Field(default="0.0.0.0", description="Address the proxy binds.")  # noqa: S104
    upstream_port: int = Field(default=8080, ge=1, le=65535)
    upstream_host: str = Field(default="127.0.0.1", description="Host of the app container (same pod).")
    protocol: Literal["openai", "json"] = "openai"
    json_fields: JsonFields = Field(default_factory=JsonFields)
    scored_paths: list[str] = Field(
        default_factory=list,
        description="Request paths (exact) whose POST answers are scored; empty: the chat completions, "
        "completions, Responses and Messages paths (`DEFAULT_SCORED_PATHS`) for openai, every POST for json. "
        "Each path speaks the API its last segments name (chat completions when none).",
    )
    max_request_bytes: int = Field(default=1_048_576, ge=1024, le=67_108_864)
    max_response_bytes: int = Field(default=4_194_304, ge=1024, le=67_108_864)
    upstream_timeout: str = Field(default="60s", pattern=DURATION)
    rate_limit: RateLimit = Field(default_factory=RateLimit)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    max_connections: int = Field(
        default=1024, ge=1, le=65_536, description="Open client connections; more are answered 503 and closed."
    )

    @model_validator(mode="after")
    def _ports_differ(self) -> Proxy:
        if self.listen_port == self.upstream_port:
            raise ValueError("proxy.listenPort and proxy.upstreamPort must differ")
        return self

    def is_scored(self, method: str, path: str, has_body: bool = False) -> bool:
        """Whether a request's answer goes through the scoring pipeline.

        Paths are compared in canonical form (`paths.canonical`: percent-decoding, dot segments, duplicate and
        trailing slashes, case), so a respelling the app would route the same way is scored too. POST, PUT and
        PATCH count, and any other method when it carries a body.
        """
        if method.upper() not in _BODY_METHODS and not has_body:
            return False
        return (self.protocol == "json" and not self.scored_paths) or self.is_scored_path(path)

    def is_scored_path(self, path: str) -> bool:
        """Whether `path` is one of the scored paths (named ones: `scoredPaths`, or the chat paths of the openai
        protocol; the json protocol's every-POST default names none), in canonical form."""
        if self.protocol == "json" and not self.scored_paths:
            return False
        wanted = self.scored_paths or DEFAULT_SCORED_PATHS
        return canonical_path(path) in {canonical_path(p) for p in wanted}


# --- policy (per revision)


class PromptInjection(crd.PromptInjection):
    """The CRD's prompt-injection settings (`guardrail.PromptInjection`) with every value concrete: unset in the
    spec (kept out of the revision hash) means these defaults here."""

    max_windows: int = Field(
        default=256,
        ge=1,
        le=4096,
        description="Detector windows checked per request (a sentence each; 64 tokens at most) over every "
        "client-supplied turn, whole; a request needing more is refused (413) under fail-closed and checked up "
        "to the budget (latest turns first) under fail-open.",
    )
    trusted_sha256: list[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]] = Field(
        default_factory=list,
        max_length=256,
        description="SHA-256 (hex, of the exact UTF-8 text) of texts that are not checked, e.g. your own system "
        "prompt. Only an exact match skips the check: a text changed by one character is checked.",
    )


class Policy(crd.Policy):
    """The policy as the sidecar runs it: the CRD's fields, defaults and softLimit rule (`guardrail.Policy`,
    written once there), with the values the spec may leave unset made concrete."""

    prompt_injection: PromptInjection = Field(default_factory=PromptInjection)
    tool_arguments: Literal["scan", "ground", "pass"] = Field(
        default="scan",
        description="Tool-call and function-call arguments in answers: scan (checked for prompt injection and "
        "exfiltration, not scored for grounding), ground (scanned and scored as answer text, for tools that "
        "render the answer), pass (forwarded unchecked). Counted by guardrail_tool_arguments_total.",
    )

    @property
    def unreadable_action(self) -> Literal["block", "pass"]:
        """What happens to an unreadable answer (`onUnreadableAnswer`, defaulting from `onBackendError`)."""
        if self.on_unreadable_answer is not None:
            return self.on_unreadable_answer
        return "block" if self.on_backend_error == "fail-closed" else "pass"


# --- models (per revision)


class ModelRef(_Model):
    name: str = Field(pattern=DNS_LABEL, max_length=63, description="Model name (validated as the CRD does).")
    version: str = Field(default="1", pattern=r"^[0-9]+$")


class CircuitBreaker(_Model):
    failure_threshold: int = Field(default=5, ge=1, description="Consecutive failures that open the circuit.")
    reset_timeout: str = Field(default="10s", pattern=DURATION, description="Open time before a trial call.")


class TritonBackend(_Model):
    url: str = Field(min_length=1, description="host:port of Triton (gRPC or HTTP port per `protocol`).")
    protocol: Literal["grpc", "http"] = "grpc"
    timeout: str = Field(default="2s", pattern=DURATION, description="Per-call deadline.")
    retries: int = Field(default=2, ge=0, le=10, description="Retries after a failed call (with backoff).")
    backoff: str = Field(default="50ms", pattern=DURATION, description="First retry delay; doubles each retry.")
    circuit_breaker: CircuitBreaker = Field(default_factory=CircuitBreaker)


class EmbeddedBackend(_Model):
    repository: str = Field(
        min_length=1, description="Model repository folder: <name>/<version>/model.onnx + tokenizer.json."
    )
    threads: int = Field(default=1, ge=1, le=64, description="onnxruntime intra-op threads.")
    concurrency: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Model runs at once; more requests wait their turn (bounds memory under concurrent load).",
    )
    max_batch: int = Field(
        default=16,
        ge=1,
        le=1024,
        description="Rows a call runs per turn of the model pool (each row runs alone, so its score does not depend "
        "on the others); a larger input waits its turn again after each chunk.",
    )


class Models(_Model):
    backend: Literal["triton", "embedded"] = "embedded"
    triton: TritonBackend | None = None
    embedded: EmbeddedBackend | None = None
    nli: ModelRef = Field(default_factory=lambda: ModelRef(name="nli"))
    embedding: ModelRef = Field(default_factory=lambda: ModelRef(name="embedding"))
    injection: ModelRef = Field(default_factory=lambda: ModelRef(name="injection"))
    tokenizer_repository: str | None = Field(
        default=None,
        description="Folder with <name>/<version>/tokenizer.json (the sidecar tokenises); defaults to the "
        "embedded repository.",
    )
    max_length: int = Field(default=256, ge=16, le=512, description="Token limit of an (evidence, claim) pair.")

    @model_validator(mode="after")
    def _backend_configured(self) -> Models:
        if self.backend == "triton" and self.triton is None:
            raise ValueError("models.backend is triton: set models.triton.url")
        if self.backend == "embedded" and self.embedded is None:
            raise ValueError("models.backend is embedded: set models.embedded.repository")
        if self.tokenizer_repository is None and self.embedded is None:
            raise ValueError("models.tokenizerRepository is required when no embedded repository is set")
        return self

    @property
    def tokenizers(self) -> str:
        """Folder holding each model's tokenizer.json."""
        if self.tokenizer_repository is not None:
            return self.tokenizer_repository
        if self.embedded is None:
            raise ConfigError("models.tokenizerRepository is required when no embedded repository is set")
        return self.embedded.repository


# --- knowledge base (per revision)


class QdrantConfig(_Model):
    path: str | None = Field(default=None, description="Embedded (local-mode) Qdrant folder.")
    url: str | None = Field(default=None, pattern=r"^https?://.+", description="Qdrant server URL.")
    api_key_env: str | None = Field(
        default=None,
        description="Environment variable holding the API key (the key itself never appears here).",
    )
    timeout: str = Field(default="2s", pattern=DURATION)

    @model_validator(mode="after")
    def _exactly_one(self) -> QdrantConfig:
        if (self.path is None) == (self.url is None):
            raise ValueError("set exactly one of knowledgeBase.qdrant.path or knowledgeBase.qdrant.url")
        return self


class KnowledgeBase(_Model):
    qdrant: QdrantConfig
    collection: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=63)
    top_k: int = Field(default=4, ge=1, le=50)
    score_threshold: float | None = Field(default=None, ge=0, le=1)


class Cache(_Model):
    max_entries: int = Field(default=10_000, ge=0, description="Per cache; 0 disables caching.")
    max_bytes: int = Field(
        default=16_777_216,
        ge=0,
        le=4_294_967_296,
        description="Per cache: the approximate size of keys and values it may hold (16 MiB by default), so a "
        "stream of long, distinct texts cannot grow the sidecar past its memory limit; 0 disables caching.",
    )
    ttl: str = Field(default="10m", pattern=DURATION)


class RevisionConfig(_Model):
    """Everything that changes scoring; `revision` is the operator's hash of exactly these fields."""

    revision: str = Field(min_length=1, max_length=63)
    policy: Policy = Field(default_factory=Policy)
    models: Models
    knowledge_base: KnowledgeBase | None = None
    cache: Cache = Field(default_factory=Cache)
    # spec.detectors as is; unset when there are none (the rendered config of a Guardrail without them is unchanged)
    detectors: Detectors | None = Field(default=None, max_length=MAX_DETECTORS)


# --- process-wide


class Routing(_Model):
    stable: RevisionConfig
    canary: RevisionConfig | None = None
    canary_weight: int = Field(default=0, ge=0, le=100, description="Percent of requests the canary scores.")
    shadow_sample_rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Shadow stage: share of the answers stable scores that the canary also scores, off the response "
        "path (its verdict is only counted, never sent). With `watch`, the Guardrail's rollout decides instead.",
    )
    request_id_header: str = Field(
        default="x-request-id",
        description="Header whose value names a request in logs and audit lines (correlation only: it does not "
        "choose the revision).",
    )
    sticky_header: str | None = Field(
        default=None,
        min_length=1,
        description="Unset (default): each request is split at random by the sidecar, so no client can choose "
        "the revision that scores it. Set: requests carrying this header are split by a hash of its value (the "
        "same user stays on one revision). Not a security boundary: whoever writes the header picks the bucket.",
    )

    @model_validator(mode="after")
    def _distinct(self) -> Routing:
        if self.canary is not None and self.canary.revision == self.stable.revision:
            raise ValueError("routing.canary.revision must differ from routing.stable.revision")
        return self


class GuardrailRef(_Model):
    namespace: str = Field(min_length=1)
    name: str = Field(min_length=1)


class Audit(_Model):
    redact_patterns: list[str] = Field(
        default_factory=list, description="Regular expressions whose matches are masked in audit lines."
    )
    include_text: bool = Field(default=False, description="Include the (redacted) answer text in audit lines.")

    @model_validator(mode="after")
    def _patterns_compile(self) -> Audit:
        for pattern in self.redact_patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"audit.redactPatterns: {pattern!r} is not a valid regex: {exc}") from exc
        return self


class SidecarConfig(_Model):
    """One sidecar process: the proxy, its admin port, audit logging, and which revisions score traffic."""

    proxy: Proxy = Field(default_factory=Proxy)
    admin_port: int = Field(default=9901, ge=1, le=65535, description="Port of /metrics, /healthz, /readyz.")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    audit: Audit = Field(default_factory=Audit)
    routing: Routing
    watch: GuardrailRef | None = Field(
        default=None,
        description="In Kubernetes: the Guardrail whose status (stable and canary revisions, canary weight) is "
        "followed live.",
    )
    models_override: Models | None = Field(
        default=None,
        description="Outside the cluster (demos, tests): serve every revision's models through this backend and "
        "tokenizer folder instead of the ones its config names (in-cluster Triton addresses); model names and "
        "versions still come from each revision.",
    )
    qdrant_override: QdrantConfig | None = Field(
        default=None,
        description="Outside the cluster: search this Qdrant (e.g. an embedded folder) instead of the one each "
        "revision names; collections still come from each revision.",
    )

    def localise(self, revision: RevisionConfig) -> RevisionConfig:
        """`revision` with this process's overrides applied; unchanged when there are none (as in a pod)."""
        update: dict[str, object] = {}
        if self.models_override is not None:
            local = self.models_override
            update["models"] = revision.models.model_copy(
                update={
                    "backend": local.backend,
                    "triton": local.triton,
                    "embedded": local.embedded,
                    "tokenizer_repository": local.tokenizer_repository,
                }
            )
        if self.qdrant_override is not None and revision.knowledge_base is not None:
            update["knowledge_base"] = revision.knowledge_base.model_copy(update={"qdrant": self.qdrant_override})
        return revision.model_copy(update=update) if update else revision

    @classmethod
    def load(cls, path: str | Path) -> SidecarConfig:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from exc
        return cls.from_yaml(text)


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{where}: {err['msg']}")
    return "invalid sidecar config: " + "; ".join(parts)
