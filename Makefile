# Everything a user or CI needs, from a machine with only Python 3.11 and pip.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUNTIME := $(VENV)/.runtime
# Where this machine's pip finds torch 2.13.0's CPU wheel by itself, nothing is needed; elsewhere:
#   make install TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
TORCH_PIP_ARGS ?=
# The exact versions everything was tested with (the images use them too).
CONSTRAINTS := docs/deploy/constraints.txt

.PHONY: constraints install serve test lint format docs eval news open-squad fit peer bench load clean

# What serving needs: the runtime dependencies only (no test, lint or browser tooling).
$(RUNTIME): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	# torch first, pinned, so that no other requirement resolves the multi-GB CUDA build.
	$(BIN)/pip install torch==2.13.0 $(TORCH_PIP_ARGS)
	$(BIN)/pip install -c $(CONSTRAINTS) -e .
	touch $(RUNTIME)

# Development and CI: the runtime plus the dev extras.
$(STAMP): $(RUNTIME)
	$(BIN)/pip install -c $(CONSTRAINTS) -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# After upgrading a dependency and passing the suite: pin what was tested.
constraints: $(STAMP)
	{ sed -n '1,3p' $(CONSTRAINTS); $(BIN)/pip freeze --all --exclude-editable | sed 's/+cpu$$//' | grep -v -E '^(newsqa|pip)=='; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)

serve: $(RUNTIME)
	HF_HUB_OFFLINE=1 $(BIN)/qa serve

# --durations: the slowest tests are named at the end of every run.
test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/pytest -q --durations=15

lint: $(STAMP)
	$(BIN)/ruff check qa index api tests
	$(BIN)/ruff format --check qa index api tests
	$(BIN)/mypy

# The documentation site (docs/, mkdocs.yml) into site/; --strict: a broken link fails it.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

format: $(STAMP)
	$(BIN)/ruff format qa index api tests
	$(BIN)/ruff check --fix qa index api tests

# The seed smoke test (15 questions: never a basis for choosing anything).
eval: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/qa eval ../shared/eval/dev_qa.jsonl

# Real news pages and questions (../shared/eval/news): the bodies as text and the pages through
# the HTML import, side by side (a validation set: measure and compare, never fit; ~5 min).
NEWS ?= ../shared/eval/news
news: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/qa eval news $(NEWS)

# The open-book benchmark on SQuAD dev (all 9,380 questions: ~40 min on 2 cores;
# OPEN_SQUAD_ARGS="--limit 1000" samples 1,000 answerable and 1,000 unanswerable).
SQUAD ?= ../shared/data/squad
OPEN_SQUAD_ARGS ?=
open-squad: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/qa eval open-squad $(SQUAD)/dev-v1.1-minus-xquad.json $(OPEN_SQUAD_ARGS)

# Refit the answer scorer (and print the fusion grid) on SQuAD-train episodes (~25 min).
fit: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m qa.evaluation.fit --train $(SQUAD)/train-v1.1.json

# txtai 9 on the same benchmark, side by side (installs the optional extra).
peer: $(STAMP)
	$(BIN)/pip install -c $(CONSTRAINTS) -e ".[peer]"
	HF_HUB_OFFLINE=1 $(BIN)/python -m qa.tools.peer_txtai $(SQUAD)/dev-v1.1-minus-xquad.json --limit 500
	HF_HUB_OFFLINE=1 $(BIN)/python -m qa.tools.peer_txtai --news $(NEWS) --rounds 2
	HF_HUB_OFFLINE=1 $(BIN)/python -m qa.tools.peer_txtai --seeds ../shared/eval/dev_qa.jsonl --rounds 8

# The whole table (seeds to 1M paragraphs): ~45 min on 2 cores, plus ~35 min once to embed 100k paragraphs.
# Smaller: make bench BENCH_ARGS="--sizes seeds,10k --runs 3"
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e ".[peer]"
	HF_HUB_OFFLINE=1 $(BIN)/python -m qa.tools.bench --out data/bench/table.md $(BENCH_ARGS)

load: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m qa.tools.loadtest --clients 16 --seconds 30

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
