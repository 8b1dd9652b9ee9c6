# finops-dashboard — one command per routine job. `make run` and `make test` are the contract.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium
JAVA := $(shell command -v java)
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
export DO_NOT_TRACK := 1

.PHONY: run test test-fast setup pipeline dashboard docs docs-serve lint format browser java spark clean evaluate

## run: set up from nothing, run the daily pipeline on the default sources, serve the dashboard
run: setup pipeline dashboard

## test: set up (venv, packages, Debian chromium, Java for Spark) and run the whole test suite
test: setup browser java
	$(PY) -m pytest -n auto --dist loadgroup --no-loadscope-reorder

## test-fast: the tests marked `fast` (mappings, clients, warehouse writer, dbt unit tests; under
## 2 minutes): while editing a loader or a model's SQL. `make test` before a commit (CI runs it).
test-fast: setup
	$(PY) -m pytest -n auto --dist loadgroup --no-loadscope-reorder -m fast

setup: $(STAMP)

$(STAMP): pyproject.toml
	@echo ">> creating $(VENV) and installing finops-dashboard (about a minute the first time)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# Bytecode compiled once here, on both cores (pip compiles one file after another),
	# without the packages' own test suites and the packages nothing here imports (cfn-lint
	# and its sympy come with moto; pip, setuptools). Not left to import time: where
	# PYTHONDONTWRITEBYTECODE is set (CI images often set it) nothing would ever be cached and
	# every process - each dbt, finops and streamlit the suite starts - would compile dbt,
	# botocore, pandas... from source again (1.3 s of dbt's 3 s start-up).
	$(PY) -m pip install --quiet --no-compile -e '.[test]'
	$(PY) -m compileall -q -j 0 -x '/tests/|/site-packages/(cfnlint|sympy|mpmath|pip|setuptools)/' \
		$(VENV)/lib finops loaders pipelines dashboard
	@touch $@

pipeline: setup
	$(VENV)/bin/finops run

dashboard: setup
	$(VENV)/bin/finops dashboard

## browser: Debian's chromium for the real-browser tests (never `playwright install`)
browser: $(CHROMIUM)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

## java: a Java 17 runtime for the local Spark of `finops spark` (Debian's, when none is installed)
java:
ifeq ($(JAVA),)
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq openjdk-17-jre-headless
endif

## spark: build the same dbt project on a local Spark from the warehouse's raw tables
spark: setup java
	$(VENV)/bin/finops spark

## docs: build the static dbt docs site (one self-contained HTML file) into data/dbt/docs
docs: setup
	$(VENV)/bin/finops docs

docs-serve: setup
	$(VENV)/bin/finops docs --serve

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/sqlfluff lint dbt_project/models

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf data logs dbt_project/target test-output

## evaluate: dbt-project-evaluator on a temporary copy of dbt_project/, from checkouts outside the
## repo (../dbt-packages, or DBT_PROJECT_EVALUATOR_DIR / DBT_UTILS_DIR); `make evaluate
## MAX_FINDINGS=N` fails above N findings. See docs/dbt-project-evaluator.md
evaluate: setup
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash scripts/dbt_project_evaluator.sh $(if $(MAX_FINDINGS),--max-findings $(MAX_FINDINGS))
