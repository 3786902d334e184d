# Two commands on a fresh machine:
#   make run   — set everything up and run the main job on embedded defaults
#   make test  — set everything up and run the whole test suite
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test dev admin demo topology setup system-deps lint bench clean chaos

run: setup
	$(VENV)/bin/lomba run

# three pytest workers, one test file each at a time (module fixtures such as a shared `lomba dev`
# stay in one worker): most of the suite's wall time is waiting on daemons and subprocesses, not CPU
test: setup system-deps
	$(PY) -m pytest -n 3 --dist loadfile lomba_pipeline_tests

dev: setup
	$(VENV)/bin/lomba dev

# the admin panel alone (review queue, links, events, catalog API) on LOMBA_ADMIN_PORT (8040)
admin: setup
	$(VENV)/bin/lomba admin

# the same pass as `make run`, over SYNTHETIC local sites and a fake Instagram (no internet needed)
demo: setup
	$(VENV)/bin/lomba demo

# the multi-machine topology on this one machine (deploy/README.md): redis-server, a gRPC code
# server, the webserver, the daemon and two Celery workers, each its own process
topology: setup system-deps
	$(PY) -m lomba_pipeline.distributed.local

setup: $(STAMP)

$(STAMP): setup.py
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON) (Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

# Debian packages the tests need: Chromium for the browser tests (Playwright drives it; no
# browser download), redis-server as the Celery broker of the topology tests (started by the
# tests themselves on a free loopback port). Run as root, or with sudo available.
system-deps:
	@if ! command -v chromium >/dev/null 2>&1; then \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update && $$SUDO apt-get install -y --no-install-recommends chromium fonts-dejavu-core; \
	fi
	@if ! command -v redis-server >/dev/null 2>&1; then \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update && $$SUDO apt-get install -y --no-install-recommends redis-server; \
	fi

# fault injection (issue 9): 50 SIGKILL trials over scrape / poster upload / extraction /
# broadcast / post, Postgres restarted and the object store down mid-run; prints trials,
# duplicates, lost rows, orphan objects (goal 0 / 0 / 0). ~15 min; CHAOS_ARGS=--quick for a taste
chaos: setup
	$(PY) bench/chaos.py $(CHAOS_ARGS)

lint: setup
	$(VENV)/bin/ruff check lomba_pipeline lomba_pipeline_tests bench

clean:
	rm -rf $(VENV) .lomba
