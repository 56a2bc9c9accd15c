# The guardrail operator (kopf) image.
#   docker build -f docker/operator.Dockerfile -t guardrail-operator:dev .
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
# Dependencies change less often than the code: copy the metadata first so the layer is reused.
COPY pyproject.toml README.md ./
COPY contract/ contract/
COPY operator/ operator/
COPY sidecar/ sidecar/
COPY tools/ tools/
RUN /opt/venv/bin/pip install --no-compile . \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="guardrail-operator" \
      org.opencontainers.image.description="Kubernetes operator for LLM guardrails (grounding and prompt-injection checks)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/guardrails-dev/guardrail-operator"
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# 65532 is the chart's runAsUser; no shell login, no home directory writes (the root filesystem is read-only).
USER 65532:65532
# 8080: /metrics and /healthz; 9443: the sidecar injection webhook.
EXPOSE 8080 9443
ENTRYPOINT ["guardrail-operator"]
