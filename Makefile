# graphmem — set-up and test entry points (see README).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install model demo test docs lint typecheck pytest neo4j-start neo4j-stop llm-start llm-stop bench clean

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

# The docs site (mkdocs.yml): strict, so a broken link, a missing anchor or a page left out of
# the navigation fails the build.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir site

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

# A local OpenAI-compatible LLM server (llama-cpp-python + SmolLM2-135M-Instruct) for the
# `llm` tests; the first start builds it into ~/.cache/graphmem/llm (minutes).
llm-start:
	bash scripts/llm.sh start

llm-stop:
	bash scripts/llm.sh stop

# The whole suite: the docs build, lint, types, and every test (Neo4j ones against a real local
# server, `llm` ones against a real local LLM server, `browser` ones in headless Chromium,
# installed from Debian's packages when missing; GRAPHMEM_SKIP_NEO4J=1 / _LLM=1 / _BROWSER=1
# skip them).
test: install docs lint typecheck
	[ "$$GRAPHMEM_SKIP_BROWSER" = 1 ] || bash scripts/browser.sh
	bash scripts/neo4j.sh start
	[ "$$GRAPHMEM_SKIP_LLM" = 1 ] || bash scripts/llm.sh start || { bash scripts/neo4j.sh stop; exit 1; }
	$(BIN)/python -m pytest -q -p no:cacheprovider; status=$$?; \
	  bash scripts/llm.sh stop; bash scripts/neo4j.sh stop; exit $$status

bench: install
	$(BIN)/python benchmarks/bench_core.py --out benchmarks/results/core.json

clean:
	rm -rf .graphmem .mypy_cache .ruff_cache site
