# leadlight: `make run` for local development, `make test` for the test suite.
# Both create the virtual environment and install what is missing on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
LEADLIGHT := $(VENV)/bin/leadlight
APP := $(VENV)/.installed-app
STAMP := $(VENV)/.installed
PORT ?=

.PHONY: install run test bench migrate schema system-deps clean

# The app and its `leadlight` command (what a deployment needs).
$(APP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $(APP)

# Plus the development server's S3 server and the test suite.
$(STAMP): $(APP)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(APP)

# Debian packages the browser tests, the load generator and the speech tests (espeak-ng) need
# (root installs them, waiting for another apt to finish; without them only the tests that
# need them are skipped).
system-deps:
	@.ci/system-deps

run: $(STAMP)
	$(LEADLIGHT) dev $(if $(PORT),--port $(PORT))

test: $(STAMP) system-deps
	$(PY) -m pytest

bench: $(STAMP) system-deps
	$(PY) bench/run.py

migrate: $(STAMP)
	$(LEADLIGHT) d1 migrations apply

# Regenerate schema.sql from the migrations (a test checks they agree).
schema: $(STAMP)
	$(PY) -m storage.migrations > schema.sql

clean:
	rm -rf $(VENV) .wrangler .pytest_cache
