# Two commands do all the set-up: `make demo` (run it offline) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck bench eval clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,charts]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/citecraft ingest
	$(BIN)/citecraft search "video compression with implicit neural representations" -k 5
	$(BIN)/citecraft ask "Which papers compress video with implicit neural representations, and how do they differ?"
	$(BIN)/citecraft summarize "spiking neural networks"

test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

bench: $(STAMP)
	$(BIN)/python bench/bench_cli.py

eval: $(STAMP)
	$(BIN)/citecraft eval

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
