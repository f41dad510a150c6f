# `make run` and `make test` work on a fresh machine with only Python >= 3.11:
# they create .venv, install leadbase with its pinned dependencies, migrate.
# Python 3.12 first where one runs (on the PATH, or installed by pyenv but not
# its active version, whose shim refuses): coverage traces the suite with its
# sys.monitoring core there (see pytest below), which costs a third less.
PYTHON ?= $(shell for py in python3.12 "$$(pyenv root 2>/dev/null)/versions/3.12"*/bin/python3.12 \
	python3.11 python3; do "$$py" -c '' >/dev/null 2>&1 && { command -v "$$py"; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install chromium run migrate test lint typecheck pytest bench clean

# The compiled scan (setup.py builds leadbase.dedupe._native in place, into
# src/, when a C compiler is there): a change to its source rebuilds it.
NATIVE_SOURCES := setup.py src/leadbase/dedupe/_native.pyx

$(STAMP): pyproject.toml $(NATIVE_SOURCES)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "leadbase needs Python >= 3.11 (found $$($(PYTHON) --version))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@$(BIN)/python -c 'from leadbase.dedupe import scan; raise SystemExit(scan.NATIVE is None)' || \
		echo "leadbase.dedupe._native was not built (LEADBASE_NO_NATIVE, or no C compiler:" \
			"apt-get install gcc, then rm $(STAMP) && make install):" \
			"the duplicate scan runs its Python path (same results, slower)"
	touch $(STAMP)

install: $(STAMP) chromium

# The browser tests drive Debian's Chromium; installed here when missing (as root).
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the browser tests"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q --no-install-recommends chromium >/dev/null || \
		{ apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends chromium >/dev/null; } || \
		echo "could not install chromium: the browser tests will skip (fail under CI)"; \
	else echo "no /usr/bin/chromium: the browser tests will skip (apt-get install chromium)"; fi

migrate: install
	$(BIN)/leadbase db upgrade

run: migrate
	$(BIN)/leadbase serve --host 127.0.0.1 --port 8000

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install
	$(BIN)/mypy src

# Byte code written even where PYTHONDONTWRITEBYTECODE is set (this machine):
# else every process the suite starts (xdist workers, CLI, job workers, import
# readers) compiles leadbase and re-writes the tests' assertions from source.
# Coverage's sys.monitoring core (Python 3.12+) instead of its C tracer: the
# suite's traced run took ~35% less time here; older Pythons keep the tracer.
pytest: install
	env -u PYTHONDONTWRITEBYTECODE COVERAGE_CORE=$$($(BIN)/python -c \
		'import sys; print("sysmon" if sys.version_info >= (3, 12) else "ctrace")') \
		$(BIN)/pytest

test: lint typecheck pytest

bench: install
	$(BIN)/python bench/write_path.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
