# The guardrail scoring sidecar image, injected next to LLM app containers by the operator's webhook.
#   docker build -f docker/sidecar.Dockerfile -t guardrail-sidecar:dev .
# Multi-stage: the build stage creates a virtualenv with the project and its wheels; the final stage is the
# same slim base with only that virtualenv copied in (no pip cache, no compilers), running as a non-root UID.
# Pin the base by digest in your registry mirror for reproducible builds: --build-arg PYTHON_IMAGE=python@sha256:...
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY contract/ contract/
COPY operator/ operator/
COPY sidecar/ sidecar/
COPY tools/ tools/
RUN /opt/venv/bin/pip install --no-compile . \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="guardrail-sidecar" \
      org.opencontainers.image.description="Scoring proxy checking LLM answers for grounding and prompts for injection" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/guardrails-dev/guardrail-operator"
COPY --from=build /opt/venv /opt/venv
# The sidecar tokenises (Triton serves plain ONNX): the models' tokenizers, and model.json for how the NLI model
# truncates pairs, at the path the operator's revision config names (builders.config.TOKENIZER_REPOSITORY).
COPY models/repository/nli/1/tokenizer.json models/repository/nli/1/model.json /opt/guardrail/tokenizers/nli/1/
COPY models/repository/embedding/1/tokenizer.json models/repository/embedding/1/model.json \
     /opt/guardrail/tokenizers/embedding/1/
# The injection model's tokenizer.json, when it is an encoder of its own (a head on the embedding has none).
COPY models/repository/injection/1/*.json /opt/guardrail/tokenizers/injection/1/
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# The UID the webhook's injected securityContext runs as (guardrail_operator.webhook.injection.SIDECAR_UID).
USER 65532:65532
# 8000: the proxy (spec.proxy.listenPort default); 9901: /metrics, /healthz, /readyz.
EXPOSE 8000 9901
ENTRYPOINT ["guardrail-sidecar"]
