"""A real local Kubernetes control plane (apiserver, etcd, controller-manager, scheduler, kwok) for tests and demos."""
