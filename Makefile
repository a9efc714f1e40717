# Parley: `make run` starts the whole suite, `make test` runs the tests.
# Both create .venv and install what they need on a fresh Debian 12 machine.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint docs system-deps-run system-deps-test clean

run: system-deps-run $(STAMP)
	$(BIN)/parley up

test: system-deps-test $(STAMP)
	$(BIN)/ruff check libs services tests bench
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check libs services tests bench
	$(BIN)/ruff format --check libs services tests bench

docs: $(STAMP)
	$(BIN)/python -m libs.config.doc

system-deps-run:
	@PYTHON=$(PYTHON) bash scripts/system-deps.sh run

system-deps-test:
	@PYTHON=$(PYTHON) bash scripts/system-deps.sh test

# C extension sources too, so a changed .c is recompiled by the editable install.
$(STAMP): pyproject.toml $(wildcard services/*/*.c)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) build *.egg-info
