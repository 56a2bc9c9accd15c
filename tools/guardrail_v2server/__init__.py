"""A small KServe v2 (Triton) protocol server for ONNX model repositories: REST and gRPC, for tests and demos.

It serves the same `<name>/<version>/model.onnx` files Triton serves, so the sidecar's unmodified
`tritonclient` code path is exercised without a GPU or a Triton install.
"""
