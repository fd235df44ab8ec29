# The two commands a newcomer needs are `make run` and `make test`; both install first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.installed
# uv installs every environment from its lock (seconds, where pip took minutes); it is
# bootstrapped into the project venv with the pip that venv comes with.
UV_VERSION := 0.13.9
UV := $(VENV)/bin/uv
UV_STAMP := $(VENV)/.uv-$(UV_VERSION)
# The SageMaker XGBoost 3.2-0 image's Python stack, built from the image's own
# pyproject.toml + uv.lock (local/image/lock, recorded in local/image/image.json) on the
# image's Python (3.12, from pyenv when it is not on PATH).
IMAGE_VENV := .venv-xgboost
IMAGE_STAMP := $(IMAGE_VENV)/.installed
IMAGE_LOCK := local/image/lock
# A LOCAL speed-up beside the image environment, never in it: its sources compiled once,
# in a container of the image, instead of at every container's start
# (local/image/bytecode.py; LOCAL_IMAGE_BYTECODE=none runs without).
BYTECODE_STAMP := .venv-xgboost-bytecode/built.json
PYTHON312 := $(or $(shell command -v python3.12 2>/dev/null | grep -v shims),$(shell pyenv prefix 3.12 2>/dev/null)/bin/python3.12)
NODE_STAMP := node_modules/.installed
# Benchmark peers (evidently) live in their own environment, never in the runtime's.
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed
# checkov pins its own boto3 against the runtime's: a test tool in its own environment.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
CDK := node_modules/.bin/cdk

# No AWS account is needed for anything but `make deploy`: never wait on the instance
# metadata service, never phone home, and silence jsii's Node end-of-life banner.
export AWS_EC2_METADATA_DISABLED := true
export CDK_DISABLE_CLI_TELEMETRY := true
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Every Python process of a run (pytest's workers, their subprocesses) imports the same
# large packages (aws_cdk's bindings alone are 237 MB of source): compiled once into a
# bytecode cache of the venv's own, not again in every process, even where the caller's
# environment sets PYTHONDONTWRITEBYTECODE. The cache lives beside the venv, so no
# source folder (a Lambda asset, the model's code/) gains a __pycache__. A local
# container gets only its image's and template's environment: the image's own setting
# (PYTHONDONTWRITEBYTECODE=1, local/image/image.json) holds there.
export PYTHONPYCACHEPREFIX := $(CURDIR)/$(VENV)/pycache
unexport PYTHONDONTWRITEBYTECODE

CDK_CONTEXT := $(if $(MODEL_PACKAGE_ARN),-c model_package_arn=$(MODEL_PACKAGE_ARN),)
# `make synth|deploy|run DATASET=house_prices`: the dataset (config/datasets/<name>.json).
# `make run DATASET=titanic RAW=tests/data/titanic`: the run on your own raw files.
CDK_CONTEXT += $(if $(DATASET),-c dataset=$(DATASET),)
# `make deploy STAGE=dev` or `STAGE=Dev`: the stage's construct id is capitalized.
STAGE_ID = $(shell s='$(or $(STAGE),Dev)'; echo "$$(echo $${s:0:1} | tr a-z A-Z)$$(echo $${s:1} | tr A-Z a-z)")

.PHONY: help install run batch test test-thorough test-tools lint typecheck unit faults synth bench loadtest loadtest-tools cost deploy clean validate-schema checkov

help:
	@echo "make run     install, then run the whole lifecycle locally (no AWS account)"
	@echo "make batch   install, train and approve v1, then batch-score the curated zone (local-batch/)"
	@echo "make test    install, then lint, type-check and run every test"
	@echo "make test-thorough  make test with every property test searched deeper (slow)"
	@echo "make faults  only the fault tests (part of make test)"
	@echo "make synth   synthesize the CDK app offline (MODEL_PACKAGE_ARN=... optional)"
	@echo "make validate-schema SCHEMA=my.json   check a dataset schema (default: the shipped ones)"
	@echo "   ... SAMPLE=my_file.csv              also match a raw file's headers; suggests raw_headers"
	@echo "make bench   run the benchmarks; results in bench/results/"
	@echo "make loadtest  the local endpoint offered 10x its capacity for 60 s (installs wrk, nginx)"
	@echo "make cost    price each synthesized stage (idle per month, per retrain, per ETL run)"
	@echo "make deploy  deploy a stage to your AWS account (STAGE=dev|prod)"

# `make test` synthesizes in-process and needs no CDK CLI: only synth and deploy install it.
install: $(PY_STAMP) $(IMAGE_STAMP) $(BYTECODE_STAMP)

$(UV_STAMP):
	@test -x $(PY) || python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -qq --disable-pip-version-check uv==$(UV_VERSION)
	@touch $@

$(PY_STAMP): requirements.txt requirements.lock $(UV_STAMP)
	$(UV) pip install -q --python $(PY) -r requirements.txt -c requirements.lock
	@touch $@

$(IMAGE_STAMP): $(IMAGE_LOCK)/pyproject.toml $(IMAGE_LOCK)/uv.lock local/image/patches.py $(UV_STAMP)
	@test -x "$(PYTHON312)" || { echo "the XGBoost image environment needs Python 3.12 (pyenv install 3.12)" >&2; exit 1; }
	UV_PROJECT_ENVIRONMENT=$(CURDIR)/$(IMAGE_VENV) $(UV) sync -q --frozen --no-dev \
		--no-install-project --project $(IMAGE_LOCK) --python "$(PYTHON312)"
	@# The Dockerfile's two source patches (local/image/patches.py says how).
	$(PY) -m local.image.patches $(IMAGE_VENV)/lib/python3.12/site-packages
	@touch $@

$(BYTECODE_STAMP): $(IMAGE_STAMP) $(PY_STAMP) local/image/bytecode.py
	$(PY) -m local.image.bytecode

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(BENCH_STAMP): bench/requirements.txt $(UV_STAMP)
	@test -x $(BENCH_VENV)/bin/python || $(UV) venv -q --python $(PY) $(BENCH_VENV)
	$(UV) pip install -q --python $(BENCH_VENV)/bin/python -r bench/requirements.txt
	@touch $@

$(CHECKOV_STAMP): requirements-checkov.txt requirements-checkov.lock $(UV_STAMP)
	@test -x $(CHECKOV_VENV)/bin/python || $(UV) venv -q --python $(PY) $(CHECKOV_VENV)
	$(UV) pip install -q --python $(CHECKOV_VENV)/bin/python \
		-r requirements-checkov.txt -c requirements-checkov.lock
	@touch $@

checkov: $(CHECKOV_STAMP)

run: install
	$(PY) -m local.run $(if $(DATASET),--dataset $(DATASET),) $(if $(RAW),--raw $(RAW),)

# Batch scoring: train and approve v1 as `make run` does, then the synthesized batch
# scoring pipeline scores the curated zone with it through the image (local-batch/).
batch: install
	$(PY) -m local.run --batch --out local-batch $(if $(DATASET),--dataset $(DATASET),) $(if $(RAW),--raw $(RAW),)

# One line per problem (file, field, fix); exit 1 if any. SCHEMA: a .json path or a dataset name.
validate-schema: $(PY_STAMP)
	@$(PY) -m config.validate_schema $(or $(SCHEMA),config/datasets/*.json) $(if $(SAMPLE),--sample $(SAMPLE),)

lint: $(PY_STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(PY_STAMP)
	$(PY) -m mypy
	@# The image-side modules import each other as top-level modules (they run by path).
	MYPYPATH=local/serving/image $(PY) -m mypy local/serving/image/*.py
	@# A second handler.py would be a duplicate module in the run above: each other
	@# function's folder is checked on its own, as its own import root.
	for function in monitor_launcher model_promotion notification_forwarder; do \
		MYPYPATH=lambda/$$function $(PY) -m mypy lambda/$$function/*.py || exit 1; done

# One pytest-xdist worker per core; the whole-app synths, the trained models and the
# lifecycles are shared by the workers (tests/synth_cache.py, tests/shared_work.py), and
# worksteal rebalances the few long tests. The 25 slowest are printed: where time goes.
PYTEST := $(PY) -m pytest -n auto --dist worksteal --durations=25
unit: install $(CHECKOV_STAMP) test-tools
	$(PYTEST)

test: lint typecheck unit

# Every property searched as deep as any test ever was (hypothesis profile `thorough`,
# tests/hypothesis_profiles.py); `make test` runs the `ci` profile.
test-thorough: lint typecheck install $(CHECKOV_STAMP) test-tools
	HYPOTHESIS_PROFILE=thorough $(PYTEST)

# The system tools the tests run (nginx, the endpoint's admission front:
# tests/unit/test_nginx_front.py), installed the way `make loadtest` installs its own.
test-tools:
	@$(MAKE) --no-print-directory loadtest-tools LOADTEST_TOOLS=nginx

# The fault tests alone (they are part of `make test` too): ETL killed mid-write, a
# failing pipeline step, the retrain event dead-lettered and redriven, the monitor rerun,
# the endpoint shedding overload.
faults: install
	$(PYTEST) tests/faults \
		tests/integration/test_monitor.py tests/contract/test_endpoint_overload.py

synth: install $(NODE_STAMP)
	rm -rf cdk.out  # a stage synthesized without Serving must not keep an old Serving template
	$(CDK) synth --quiet --no-notices $(CDK_CONTEXT)

bench: install $(BENCH_STAMP)
	$(PY) -m bench.etl
	$(PY) -m bench.model
	$(PY) -m bench.endpoint
	$(PY) -m bench.serving
	$(PY) -m bench.monitor

# Slow (about 3 minutes with the model's training, more if it waits for a quiet machine:
# up to 10 minutes for a 1-minute load average of 1.5): not part of `make test`.
loadtest: install loadtest-tools
	$(PY) -m bench.overload

# The load test's own tools, from Debian (system packages, so checked every time rather
# than stamped): wrk, a C load generator, and nginx, the runtime's admission in front of
# the endpoint (local/serving/nginx_front.py). Never needed by `make run` or `make test`.
LOADTEST_TOOLS := wrk nginx
loadtest-tools:
	@missing=$$(for t in $(LOADTEST_TOOLS); do PATH="$$PATH:/usr/sbin" command -v $$t >/dev/null || echo $$t; done); \
	if [ -n "$$missing" ]; then \
		command -v apt-get >/dev/null || { echo "make loadtest needs: $$missing (no apt-get here: install them yourself)" >&2; exit 1; }; \
		sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$sudo apt-get install -y --no-install-recommends $$missing \
			|| { $$sudo apt-get update && $$sudo apt-get install -y --no-install-recommends $$missing; } \
			|| { echo "make loadtest: could not install $$missing with apt-get" >&2; exit 1; }; \
	fi

cost: synth
	$(PY) -m tools.cost --cdk-out cdk.out

deploy: install $(NODE_STAMP)
	$(CDK) deploy --no-notices $(CDK_CONTEXT) "$(STAGE_ID)/*"

clean:
	rm -rf cdk.out local-run local-batch .pytest_cache .mypy_cache .ruff_cache
