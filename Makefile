# Clientele: `make run` brings the platform up locally, `make test` tests it.
# Both do the whole set-up first, on a fresh machine too.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SERVICES := gateway customer_service
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: run test setup setup-dev infra tools env databases admin lint typecheck pytest bench clean

run: setup ## Set everything up, then start every process (Ctrl-C stops them all)
	@mkdir -p var/metrics
	@echo ""
	@echo "Clientele gateway: http://$${GATEWAY_BIND:-127.0.0.1:8000}  (API under /api/v1, Ctrl-C stops everything)"
	@echo ""
	$(BIN)/honcho start -f Procfile

test: setup-dev lint typecheck pytest ## Set everything up, lint, type-check and run the whole test suite

setup: $(VENV)/.installed infra env databases admin

setup-dev: $(VENV)/.installed-dev infra env tools

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Clientele needs Python 3.11, found " + sys.version' \
		|| (echo "Install Python 3.11 (Debian: apt-get install python3.11-venv) or set PYTHON=/path/to/python3.11"; exit 1)
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt
	@touch $@ $(VENV)/.installed

infra: ## Make sure PostgreSQL and Redis answer (start or install them)
	@bash scripts/ensure-infra.sh postgres redis

tools: ## Install the offline checkers the tests use (docker-compose)
	@bash scripts/ensure-tools.sh

env: ## Create .env from .env.example the first time
	@test -f .env || (cp .env.example .env && echo "created .env from .env.example")

databases: $(VENV)/.installed env ## Create each service's database and migrate it to head
	$(BIN)/honcho run $(BIN)/python -m shared.migrations $(SERVICES)

admin: $(VENV)/.installed env ## Create the first admin user (printed once) unless one exists
	$(BIN)/honcho run $(BIN)/python -m gateway.cli ensure-admin

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy shared $(SERVICES)

pytest: $(VENV)/.installed-dev
	$(BIN)/pytest -q -p no:cacheprovider

bench: setup-dev ## Measure the gateway's overhead (figures printed, see README)
	$(BIN)/python -m bench.gateway_overhead

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
