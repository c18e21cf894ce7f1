# Two commands for a fresh machine with Python 3.11+ and make:
#   make chat   installs into .venv and talks to the coach in this terminal
#   make test   installs into .venv (with the test tools) and runs every test and the linter
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: chat test lint bench check clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is needed, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

chat: $(STAMP)
	$(BIN)/coach chat

# Three workers: most tests wait on processes, servers and files, so three outrun two cores.
# Each worker has its own PostgreSQL server (tests/pg_server.py): some tests restart it.
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 3
	$(BIN)/ruff check .

check: $(STAMP)
	$(BIN)/coach flows check

bench: $(STAMP)
	$(BIN)/coach bench --store memory
	$(BIN)/coach bench --store $${TMPDIR:-/tmp}/coach-bench-$$$$.db

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
