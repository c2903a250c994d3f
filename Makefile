# The two commands of the README: `make demo` (the main job) and `make test`.
# Both create .venv and install everything on first use; later runs reuse it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0
# byte-code written as modules are first imported (an empty PYTHONDONTWRITEBYTECODE is off): $(STAMP) writes
# what the product imports (scripts/warm_bytecode.py), each target below what else it imports
WRITE_BYTECODE := PYTHONDONTWRITEBYTECODE=
OFFLINE := $(WRITE_BYTECODE) HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 RAY_USAGE_STATS_ENABLED=0
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench dashboard clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned: unpinned, pip would resolve a multi-GB CUDA build here
	$(BIN)/python -m pip install --quiet --no-compile "$(TORCH)"
	$(BIN)/python -m pip install --quiet --no-compile -e ".[test,postgres]"
	# byte-compiled here: what a sweep's driver, its Ray processes and workers, the store and the CLI import,
	# by importing it with byte-code writing on, in two processes (one per core; scripts/warm_bytecode.py says
	# why and what)
	($(OFFLINE) $(BIN)/python -m scripts.warm_bytecode torch) & torch=$$!; \
		$(OFFLINE) $(BIN)/python -m scripts.warm_bytecode ray && wait $$torch
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(OFFLINE) $(BIN)/superpos sweep run orchestrator/specs/demo.yaml
	$(BIN)/superpos db import-reference

# two processes: a real-Ray test waits on its trials about a third of the time, so the other one fills it
# (the session sweeps are built once for both, tests/conftest.py _built_once; the test cluster stops only
# its own Ray)
test: $(STAMP)
	$(OFFLINE) $(BIN)/python -m pytest -q -n 2 --dist worksteal

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(OFFLINE) $(BIN)/python -m scripts.benchmarks
	$(OFFLINE) $(BIN)/python -m scripts.benchmarks.orchestration
	# on a GPU: the throughput table that `superpos sweep plan` turns into GPU-hours
	if $(BIN)/python -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then \
		$(OFFLINE) $(BIN)/python -m scripts.benchmarks.throughput --compile --widths 32 64 128 \
			--out orchestrator/throughput.json; fi
	# packed trials vs solo (on a GPU: eager and compiled packs, separate processes, MFU; also the
	# planner's speed-ups)
	$(OFFLINE) $(BIN)/python -m scripts.benchmarks.packing --out bench-results.json \
		--throughput orchestrator/throughput.json

dashboard: $(STAMP)
	$(WRITE_BYTECODE) $(BIN)/superpos dashboard

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
