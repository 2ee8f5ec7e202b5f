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

# The input-scaling experiment: two sweeps, their overlaid curves, then tables and docs/scaling/scaling.png.
DEMO_GRID := --grid data.input_scale=1,1000 --grid data.scaler=none,standard,minmax --grid train.alpha=0.001,0.01,0.5,5
DEMO_RELU := --set model.activation=relu --set data.scaler=none --grid data.input_scale=1,1000 --grid train.alpha=0.00001,0.001,0.5
demo: $(STAMP)
	$(BIN)/nnctl sweep configs/scaling-demo.yaml $(DEMO_GRID) --jobs 2 --out runs/scaling-demo --force -q > /dev/null
	$(BIN)/nnctl sweep configs/scaling-demo.yaml $(DEMO_RELU) --jobs 2 --out runs/scaling-demo-relu --force -q > /dev/null
	$(BIN)/nnctl plot runs/scaling-demo --out docs/scaling/curves.png
	$(BIN)/python scripts/scaling_demo.py --sweep runs/scaling-demo --relu-sweep runs/scaling-demo-relu --out docs/scaling

test: $(STAMP)
	$(BIN)/python -m pytest

# nnctl against scikit-learn (and PyTorch, when installed) side by side; BENCH_ARGS=--quick for a smoke run.
bench: $(STAMP)
	$(BIN)/python bench/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache
