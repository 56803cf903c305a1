# leadlight: `make run` for local development, `make test` for the test suite.
# Both create the virtual environment and install what is missing on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench migrate lint schema system-deps clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet '.[test]'
	touch $(STAMP)

# Debian packages the browser tests and the load generator need (root installs them).
system-deps:
	@missing=""; \
	test -x /usr/bin/chromium || missing="$$missing chromium chromium-driver"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing Debian packages:$$missing (install them as root; the tests that need them are skipped)"; fi; \
	fi

run: $(STAMP)
	$(PY) worker.py dev

test: $(STAMP) system-deps
	$(PY) -m pytest

bench: $(STAMP) system-deps
	$(PY) bench/run.py

migrate: $(STAMP)
	$(PY) worker.py d1 migrations apply

# Regenerate schema.sql from the migrations (a test checks they agree).
schema: $(STAMP)
	$(PY) -m storage.migrations > schema.sql

clean:
	rm -rf $(VENV) .wrangler .pytest_cache
