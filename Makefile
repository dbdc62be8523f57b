# ic3_pipeline — the two commands a new machine needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
# PostgreSQL tests use this server; they skip, saying why, when nothing answers there.
export IC3_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: install demo test bench ui clean

# uv installs the ~150 packages Dagster brings in seconds; plain pip is the fallback.
$(BIN)/ic3: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv \
	  && $(BIN)/uv pip install -q --python $(BIN)/python -e '.[dev]' \
	  || $(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

install: $(BIN)/ic3

demo: install
	$(BIN)/ic3 demo

test: install
	$(BIN)/python -m pytest

# The Dagster UI (webserver + daemon) on 127.0.0.1, on the same DAGSTER_HOME the demo and `ic3` use.
UI_PORT ?= 3000
ui: install
	$(BIN)/python -c "from ic3_pipeline.runs import prepare_dagster_home; prepare_dagster_home()"
	$(BIN)/dg dev --host 127.0.0.1 --port $(UI_PORT)

clean:
	rm -rf $(VENV) .dagster_home data .pytest_cache
