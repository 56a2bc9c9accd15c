"""Container images without Docker: a debootstrap base, the project's layers, OCI archives for containerd."""
