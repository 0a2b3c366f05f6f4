# The two set-up commands of the README. Each creates the virtual
# environment and installs what it needs; nothing else is required on the
# machine but Python 3.11+, Java 17 and Maven.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: dev test lint typecheck unit kafka-start kafka-stop clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "weir needs Python 3.11+ (found " + sys.version.split()[0] + ")")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

dev: $(STAMP)
	$(BIN)/weir dev

test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest -q -ra $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

kafka-start: $(STAMP)
	$(BIN)/weir kafka start

kafka-stop: $(STAMP)
	$(BIN)/weir kafka stop

clean:
	-$(BIN)/weir kafka stop
	rm -rf $(VENV) .weir .mypy_cache .ruff_cache .pytest_cache
