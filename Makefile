# Two commands: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run chat test lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Editable, so the checkout is what runs. setuptools then warns that folders named like the packages
# "may take precedence during imports": here they are the packages themselves, so that is intended.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/whoowns db upgrade
	$(BIN)/whoowns serve

chat: $(STAMP)
	$(BIN)/whoowns chat

test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

# Quality on every catalogue (the default's sets, the tuning and the blind team catalogues, each
# beside two baselines), then speed.
bench: $(STAMP)
	$(BIN)/python benchmarks/catalogues.py
	$(BIN)/python benchmarks/matching.py
	$(BIN)/python benchmarks/outbox_delivery.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
