# `make run` and `make test` are the README's two commands; both set themselves up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Touched after a successful install: `run` and `test` reinstall only when pyproject.toml
# (the dependencies) is newer, not on every call.
STAMP := $(VENV)/.installed

.PHONY: install run demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# PYTHONWARNINGS: setuptools' build backend prints a framed notice about editable installs
# on every install; it says nothing about this project.
$(STAMP): pyproject.toml | $(BIN)/python
	PYTHONWARNINGS=ignore $(BIN)/pip install --quiet -e '.[dev,redis]'
	@touch $(STAMP)

# Reinstall now, whatever the stamp says (e.g. after editing the venv by hand).
install: $(BIN)/python
	@rm -f $(STAMP)
	@$(MAKE) --no-print-directory $(STAMP)

# Polling with BOT_TOKEN from the environment or .env; without a token it runs the demo.
run: $(STAMP)
	@if [ -n "$${BOT_TOKEN:-}" ] || grep -qs '^BOT_TOKEN=.' .env; then \
		$(BIN)/python -m bot run; \
	else \
		echo "No BOT_TOKEN: starting the terminal demo (see README to connect Telegram)."; \
		$(BIN)/python -m bot demo; \
	fi

demo: $(STAMP)
	$(BIN)/python -m bot demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m bench.search_bench

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache .grimp_cache .import_linter_cache
