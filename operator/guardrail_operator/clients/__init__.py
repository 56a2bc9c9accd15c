"""The only modules that talk to the outside: the Kubernetes API (k8s), Prometheus, and the Qdrant health probe."""
