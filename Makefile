# Guardrail Operator — developer entry points. Every target uses the project's own .venv.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install triton system-deps node-deps scan-deps images lint typecheck crds check-crds test test-unit cluster cluster-down demo bench clean

install: $(STAMP) ## create .venv with the project (editable) and its dev tools

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || { echo "error: $(PY) not found; install Python 3.11+" >&2; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

lint: install ## ruff, mypy (strict) and the import-linter layering contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy contract/guardrail_contract operator/guardrail_operator sidecar/guardrail_sidecar $(wildcard tools/guardrail_*) bench

crds: install ## regenerate crds/ from the typed model, and the chart's CRD template from crds/
	$(BIN)/python -m guardrail_operator.api.crd > crds/guardrails.dev_guardrails.yaml
	$(BIN)/python -m guardrail_chart.crds

test-unit: install
	$(BIN)/pytest tests/unit -q

triton: install ## NVIDIA Triton (tritonserver 2.51.0 from the nvidia-pytriton wheel), cached under ~/.cache/guardrail-operator
	$(BIN)/guardrail triton install

system-deps: node-deps ## Debian packages the tests use (prometheus, for canary analysis); needs root or sudo
	@command -v prometheus >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "installing Debian's prometheus (used by the canary analysis tests)"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }

# The real node of `make cluster REAL_NODE=1` and the real-pods tier: Debian's containerd, runc, CNI plugins,
# iptables and debootstrap (image bases). Root only: elsewhere the tier skips and says why.
NODE_PKGS := containerd runc containernetworking-plugins iptables nftables debootstrap
node-deps: ## Debian packages the real node uses (containerd, runc, CNI plugins, iptables, debootstrap); root only
	@if [ "$$(id -u)" != 0 ]; then echo "node-deps: not root; skipping $(NODE_PKGS) (the real-pods tier will skip)"; \
	elif ! dpkg -s $(NODE_PKGS) >/dev/null 2>&1; then \
	  echo "installing Debian's $(NODE_PKGS) (the real node of the real-pods tier)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(NODE_PKGS) >/dev/null \
	  || echo "node-deps: apt-get failed; the real-pods tier will skip"; \
	  systemctl disable --now containerd >/dev/null 2>&1 || true; fi

scan-deps: install ## checkov in its own venv (its pins conflict with ours), for the chart security scan
	$(BIN)/python -m guardrail_chart.scan --install

images: install triton node-deps ## images for the operator, the sidecar, CPU Triton and pause, without Docker (cached by input hash); loaded into the real node's containerd when it runs
	$(BIN)/guardrail-images build $(if $(REAL_NODE),--load)

test: install triton system-deps scan-deps lint ## everything: lint, unit, integration (real control plane), e2e
	$(BIN)/pytest -q

cluster: install ## build (if needed) and start the local control plane; writes .cluster/env
	$(BIN)/guardrail-devcluster up $(if $(REAL_NODE),--real-node)

cluster-down: install ## stop the local control plane
	$(BIN)/guardrail-devcluster down

demo: install triton system-deps ## the main job: the whole product on this machine (`make demo -- --once` exits when done)
	$(BIN)/guardrail demo $(filter-out $@,$(MAKECMDGOALS))

bench: install triton ## benchmarks; JSON results under bench/results/
	@ls bench/*.py >/dev/null 2>&1 && for b in bench/*.py; do $(BIN)/python $$b || exit 1; done || echo "no benchmarks yet"

clean:
	rm -rf $(VENV) .cluster .mypy_cache .ruff_cache .pytest_cache

%:
	@:
