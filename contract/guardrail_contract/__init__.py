"""The contract the operator, the sidecar and the tools share: the Guardrail CRD model, the rendered sidecar
config, names, the tensor contract. Imports nothing of the project.
"""
