# `make train` and `make test` work on a fresh machine with only Python 3: they build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: train demo test bench clean

# Rebuilt when missing or older than pyproject.toml.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

train: $(STAMP)
	$(BIN)/nnctl train configs/testnet.yaml --force

# The input-scaling experiment: two seeded sweeps under runs/scaling-demo, their figures and tables, and a check
# of every claim docs/scaling.md makes (exit 1 naming a claim that no longer holds). Tracked files are not touched.
demo: $(STAMP)
	$(BIN)/python scripts/scaling_demo.py --out runs/scaling-demo --vectorize

test: $(STAMP)
	$(BIN)/python -m pytest

# nnctl against scikit-learn (and PyTorch, when installed) side by side; BENCH_ARGS=--quick for a smoke run.
bench: $(STAMP)
	$(BIN)/python bench/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache
