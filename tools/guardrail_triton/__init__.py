"""A real NVIDIA Triton Inference Server on this machine: installed from PyPI (`nvidia-pytriton`), cached, and
started on loopback ports with the python-backend flavour of the project's model repository (CPU only).

`guardrail triton serve` is the command; tests, the demo, the benchmarks and `guardrail eval` use the same
`launch()` / `TritonProcess`.
"""
