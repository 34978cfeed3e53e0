# graphmem — set-up and test entry points (see README).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install model demo test lint typecheck pytest neo4j-start neo4j-stop bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) model

model:
	bash scripts/install_model.sh

demo: install
	$(BIN)/graphmem demo

lint: $(STAMP)
	$(BIN)/ruff check graphmem tests benchmarks scripts
	$(BIN)/ruff format --check graphmem tests benchmarks scripts

typecheck: $(STAMP)
	$(BIN)/mypy graphmem

pytest: install
	$(BIN)/python -m pytest -q -p no:cacheprovider

neo4j-start:
	bash scripts/neo4j.sh start

neo4j-stop:
	bash scripts/neo4j.sh stop

# The whole suite: lint, types, and every test (Neo4j ones against a real local server).
test: install lint typecheck
	bash scripts/neo4j.sh start
	$(BIN)/python -m pytest -q -p no:cacheprovider; status=$$?; bash scripts/neo4j.sh stop; exit $$status

bench: install
	$(BIN)/python benchmarks/bench_core.py --out benchmarks/results/core.json

clean:
	rm -rf .graphmem .mypy_cache .ruff_cache
