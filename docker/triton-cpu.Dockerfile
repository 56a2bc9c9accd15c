# Triton for clusters without GPUs (a Guardrail with spec.triton.device: cpu): NVIDIA's server image plus what
# the python backend's model.py (guardrail_operator/builders/triton_cpu_model.py) imports: numpy 1.x and onnxruntime (CPU).
#   docker build -f docker/triton-cpu.Dockerfile -t triton-cpu:dev .     then set spec.triton.image to it
# Keep ONNXRUNTIME_VERSION equal to the project's (pyproject.toml), so Triton scores what the embedded scorer does.
ARG TRITON_IMAGE=nvcr.io/nvidia/tritonserver:25.10-py3
FROM ${TRITON_IMAGE}
ARG ONNXRUNTIME_VERSION=1.32.0
RUN pip install --no-cache-dir "numpy==1.26.4" "onnxruntime==${ONNXRUNTIME_VERSION}"
# triton-server, the UID the operator's pod securityContext runs Triton as (builders.triton.TRITON_UID).
USER 1000:1000
