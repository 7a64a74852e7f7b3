# `make run` and `make test` are the README's two commands; both set themselves up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install run demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,redis]'

# Polling with BOT_TOKEN from the environment or .env; without a token it runs the demo.
run: install
	@if [ -n "$${BOT_TOKEN:-}" ] || grep -qs '^BOT_TOKEN=.' .env; then \
		$(BIN)/python -m bot run; \
	else \
		echo "No BOT_TOKEN: starting the terminal demo (see README to connect Telegram)."; \
		$(BIN)/python -m bot demo; \
	fi

demo: install
	$(BIN)/python -m bot demo

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

bench: install
	$(BIN)/python -m bench.search_bench

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
