# piwheels.ops: one entry point for developers, CI and the demo.
#   make test         every suite (what CI runs)
#   make demo         a removal on a private piwheels master, end to end
#   make pytest | sanity | units | integration | lint   one suite
#   make bench | soak  the long measurements (not part of make test)
#   make matrix       sanity and units under every ansible-core release we claim (not part of make test)
#   make changelog    release the changelog for the version in galaxy.yml (antsibull-changelog)

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
BIN := $(VENV)/bin
COLLECTION := $(ROOT)/ansible_collections/piwheels/ops
# ansible-test runs under a HOME of its own, one per checkout, so that concurrent
# runs never share ~/.ansible/test (its venvs and its pip bootstrap cache);
# tools/ansible_test_home.py fills it (offline get-pip, the user's pip config)
TEST_HOME := $(ROOT)/.ansible-test-home
TEST_HOME_READY := $(BIN)/python tools/ansible_test_home.py $(TEST_HOME) $(BIN)/python
ANSIBLE_TEST := cd $(COLLECTION) && HOME=$(TEST_HOME) PATH=$(BIN):$$PATH $(BIN)/ansible-test
ANSIBLE_TEST_PY := --venv --python 3.11 --color no
# integration shards keep their PostgreSQL and Mr Chase here, one directory per
# checkout and one below it per shard (short: ipc socket paths are limited to
# about 107 bytes)
IT_STATE ?= /tmp/piw-it-$(shell printf %s "$(ROOT)" | md5sum | cut -c1-8)
# `make integration IT_TARGETS=module_defaults_group` runs only those targets
IT_TARGETS ?=
# the ansible-core minor releases requires_ansible in meta/runtime.yml claims
MATRIX_VERSIONS ?= 2.16 2.17 2.18 2.19

.PHONY: test pytest sanity units integration integration-clean lint matrix changelog bench soak demo demo-stop \
	demo-check venv clean

# every suite runs even when an earlier one fails; make test fails if any did.
# Two lanes in parallel (tools/run_suites.py says which and why), each suite's
# output printed whole when it ends, and each suite's duration at the end.
test: venv
	$(BIN)/python tools/run_suites.py

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

# pytest-xdist workers, each with its own PostgreSQL (pg_cluster is per session)
PYTEST_WORKERS ?= 2
# a temporary directory of this checkout's own: pytest prunes the numbered directories of
# /tmp/pytest-of-<user>, which every other pytest session on the machine shares (ansible-test units in the other
# lane of make test, another checkout); short, as a PostgreSQL socket path must be (107 bytes)
PYTEST_BASETEMP := /tmp/piw-pytest-$(shell printf %s "$(ROOT)" | md5sum | cut -c1-8)
pytest: venv
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --basetemp=$(PYTEST_BASETEMP) tests

# ansible-lint runs as a contributor runs it, plainly in the collection (its
# configuration is .config/ansible-lint.yml); the README's table must be the
# matrix record's (tools/matrix_table.py)
lint: venv
	$(BIN)/ruff check .
	cd $(COLLECTION) && PATH=$(BIN):$$PATH $(BIN)/ansible-lint
	cd $(COLLECTION) && $(BIN)/antsibull-changelog lint
	cd $(COLLECTION) && PATH=$(BIN):$$PATH $(BIN)/antsibull-docs lint-collection-docs --plugin-docs .
	$(BIN)/python tools/matrix_table.py --check
	# ansible-lint leaves a cache in the collection that ansible-test would check
	rm -rf $(COLLECTION)/.ansible
	@echo "lint: ruff, ansible-lint (production profile), antsibull-changelog lint, antsibull-docs lint-collection-docs and the matrix table passed"

sanity: venv
	$(TEST_HOME_READY)
	rm -rf $(COLLECTION)/.ansible
	$(ANSIBLE_TEST) sanity $(ANSIBLE_TEST_PY)
	@echo "sanity: every ansible-test sanity test passed"

units: venv
	$(TEST_HOME_READY)
	$(ANSIBLE_TEST) units $(ANSIBLE_TEST_PY)

# The targets in IT_SHARDS ansible-test runs at once, each with a copy of the
# collection, a HOME and a test master (PostgreSQL, Mr Chase) of its own under
# IT_STATE/<n>/ (tools/run_integration.py says why); each shard's Mr Chase and
# PostgreSQL are stopped when it ends, pass or fail.
IT_SHARDS ?= 2
integration: venv
	$(BIN)/python tools/run_integration.py --state $(IT_STATE) --shards $(IT_SHARDS) $(IT_TARGETS)

# What an interrupted run left running: each shard's Mr Chase (through its ctl
# script) and PostgreSQL. The state directories stay for their logs; the next
# run reuses them.
integration-clean: venv
	$(BIN)/python tools/run_integration.py --state $(IT_STATE) --clean
	@echo "integration-clean: Mr Chase and PostgreSQL of $(IT_STATE) stopped"

# sanity and units under each ansible-core release of MATRIX_VERSIONS, each in
# its own venv and HOME under .matrix/; each run is appended to records/matrix.json
# (with its commit and collection version) and README.md's table is written from it
matrix: venv
	$(BIN)/python tools/matrix.py --readme README.md $(MATRIX_VERSIONS)

# Adds every fragment in changelogs/fragments to the release named by galaxy.yml's
# version (a release that exists already takes the new fragments and today's date)
# and regenerates CHANGELOG.rst; plugins are re-read so new modules are listed.
# Only the fragments of that release may be in changelogs/fragments: move a later
# release's aside first and back after. RELEASE_DATE=YYYY-MM-DD dates a
# release after the fact (default: today).
RELEASE_DATE ?=
changelog: venv
	cd $(COLLECTION) && $(BIN)/antsibull-changelog lint
	cd $(COLLECTION) && PATH=$(BIN):$$PATH $(BIN)/antsibull-changelog release --update-existing --reload-plugins \
	  $(if $(RELEASE_DATE),--date $(RELEASE_DATE))
	rm -f $(COLLECTION)/changelogs/.plugin-cache.yaml
	@echo "changelog: CHANGELOG.rst released for version $$(sed -n 's/^version: //p' $(COLLECTION)/galaxy.yml)"

bench: venv
	$(BIN)/python benchmarks/run_all.py

soak: venv
	PIW_SOAK=1 $(BIN)/python -m pytest tests/reliability

demo: venv
	$(BIN)/python tools/demo.py up

demo-stop: venv
	$(BIN)/python tools/demo.py down

# the demo end to end, as a newcomer runs it, then stopped again
demo-check:
	$(MAKE) demo
	$(MAKE) demo-stop
	@echo "demo: make demo ran end to end and was stopped"

clean:
	rm -rf $(VENV) .demo $(COLLECTION)/tests/output $(TEST_HOME) $(ROOT)/.matrix
