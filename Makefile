# ic3_pipeline — the two commands a new machine needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
# PostgreSQL tests use this server; they skip, saying why, when nothing answers there.
export IC3_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: install demo test bench bench-quick ui clean

# uv installs the ~150 packages Dagster brings in seconds; plain pip is the fallback. --compile-bytecode writes every
# module's bytecode now (uv writes none by default): without it each `ic3` command, the UI's processes and every run
# compiled Dagster from source, several seconds each, until Python got to write its caches (never, with
# PYTHONDONTWRITEBYTECODE set). The project's own package is compiled too (an editable install is not).
$(BIN)/ic3: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv \
	  && $(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -e '.[dev]' \
	  || $(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	$(BIN)/python -m compileall -q ic3_pipeline >/dev/null
	@touch $@

install: $(BIN)/ic3

demo: install
	$(BIN)/ic3 demo

# `dg check defs` first: a broken defs.yaml fails in seconds, naming its file and line.
test: install
	$(BIN)/dg check defs
	$(BIN)/python -m pytest

# The benchmarks (bench/README.md): every part at full size (~30 min), or `make bench-quick` (under 5 min).
# BENCH_PARTS picks parts, e.g. make bench BENCH_PARTS="sync_throughput scale".
BENCH_PARTS ?=
bench: install
	$(BIN)/python -m bench $(BENCH_PARTS)

bench-quick: install
	$(BIN)/python -m bench --quick $(BENCH_PARTS)

# The Dagster UI (webserver + daemon, `dg dev`) on 127.0.0.1, on the same DAGSTER_HOME the demo and `ic3` use.
# Start-up is Dagster's processes one after another (dg, the code server and its loader, then webserver and daemon):
# nothing of ours runs before them (the simulator starts beside them; the YAML check `make test` already does,
# `--no-check-yaml`, would load every component once more first). bench/README.md, "make ui", has where the time goes.
# Unless INNOMAINT_BASE_URL names an API already, it also serves the Innomaint simulator on 127.0.0.1:$(SIM_PORT) for
# the demo's register (same knobs as `ic3 demo`) with a throwaway token, exported to the webserver and the daemon so
# runs launched from the UI work. Ctrl-C stops both. Dagster's own log is cut to warnings (UI_LOG_LEVEL=info for all).
UI_PORT  ?= 3000
SIM_PORT ?= 8765
UI_LOG_LEVEL ?= warning
UI_SIMULATOR ?= --rate-limit 100 --latency-ms 50 --fault-rate 0.03 --missing-fraction 0.003 --seed 7
DEMO_REGISTER := $(or $(IC3_DATA_DIR),data)/demo/register.xlsx
port_open = $(BIN)/python -c "import socket; socket.create_connection(('127.0.0.1', $(1)), 1)" 2>/dev/null
ui_up = $(BIN)/python -c "import urllib.request as r; r.urlopen('http://127.0.0.1:$(UI_PORT)/server_info', timeout=2)" 2>/dev/null
ui: install
	@$(BIN)/python -c "from ic3_pipeline.dagster_home import prepare_dagster_home; prepare_dagster_home()"
	@sim=; ready=; trap 'kill $$sim $$ready 2>/dev/null; wait 2>/dev/null' EXIT; trap 'exit 130' INT TERM; \
	if $(call port_open,$(UI_PORT)); then \
	  echo "Port $(UI_PORT) is taken (another make ui?): stop it, or run make ui UI_PORT=3001" >&2; exit 1; \
	fi; \
	if [ -n "$$INNOMAINT_BASE_URL" ]; then \
	  echo "Runs launched from the UI call Innomaint at $$INNOMAINT_BASE_URL (INNOMAINT_BASE_URL)"; \
	elif [ -f "$(DEMO_REGISTER)" ]; then \
	  if $(call port_open,$(SIM_PORT)); then \
	    echo "Port $(SIM_PORT) is taken (another make ui or ic3 simulate?): stop it, or run make ui SIM_PORT=8766" >&2; \
	    exit 1; \
	  fi; \
	  INNOMAINT_API_TOKEN=$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(24))'); \
	  INNOMAINT_BASE_URL=http://127.0.0.1:$(SIM_PORT); export INNOMAINT_API_TOKEN INNOMAINT_BASE_URL; \
	  $(BIN)/ic3 simulate innomaint --register "$(DEMO_REGISTER)" --port $(SIM_PORT) $(UI_SIMULATOR) & sim=$$!; \
	else \
	  echo "No $(DEMO_REGISTER) (make demo writes it), so no simulator: runs that call Innomaint need"; \
	  echo "INNOMAINT_BASE_URL and INNOMAINT_API_TOKEN in the environment of make ui"; \
	fi; \
	echo "Starting the Dagster UI (webserver and daemon) on DAGSTER_HOME=$(DAGSTER_HOME) …"; \
	( n=0; until $(ui_up); do n=$$((n + 1)); [ $$n -lt 300 ] || exit 0; sleep 1; done; \
	  if [ -n "$$sim" ] && ! $(call port_open,$(SIM_PORT)); then \
	    echo "The Innomaint simulator is not answering on port $(SIM_PORT) (see above): runs launched from the UI will fail" >&2; \
	  fi; \
	  echo "Dagster UI ready: http://127.0.0.1:$(UI_PORT)  (Ctrl-C stops it$${sim:+ and the simulator})" ) & ready=$$!; \
	$(BIN)/dg dev --no-check-yaml --host 127.0.0.1 --port $(UI_PORT) --log-level $(UI_LOG_LEVEL)

# The README's pictures of the UI (docs/*.png): a throwaway demo instance photographed in headless Chromium.
.PHONY: screenshots
screenshots: install
	$(BIN)/python docs/make_screenshots.py

clean:
	rm -rf $(VENV) .dagster_home data .pytest_cache
