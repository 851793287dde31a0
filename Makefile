# Two commands are all the set-up there is: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/picker --help

test: $(STAMP)
	$(BIN)/ruff check picker tests benchmarks
	$(BIN)/ruff format --check picker tests benchmarks
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check picker tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format picker tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info demo_output
