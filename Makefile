# piwheels.ops: one entry point for developers, CI and the demo.
#   make test         every suite (what CI runs)
#   make demo         a removal on a private piwheels master, end to end
#   make pytest | sanity | units | integration | lint   one suite
#   make bench | soak  the long measurements (not part of make test)

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
BIN := $(VENV)/bin
COLLECTION := $(ROOT)/ansible_collections/piwheels/ops
ANSIBLE_TEST := cd $(COLLECTION) && PATH=$(BIN):$$PATH $(BIN)/ansible-test
ANSIBLE_TEST_PY := --venv --python 3.11 --color no
# ansible-test's pip bootstrap script, see tools/get_pip_offline.py
GET_PIP_CACHE := $(HOME)/.ansible/test/cache/get_pip_24_2.py
# integration tests keep their PostgreSQL and Mr Chase here, one directory per
# checkout (short: ipc socket paths are limited to about 107 bytes)
IT_STATE ?= /tmp/piw-it-$(shell printf %s "$(ROOT)" | md5sum | cut -c1-8)

.PHONY: test pytest sanity units integration lint bench soak demo demo-stop demo-check venv clean

# every suite runs even when an earlier one fails (-k); make test fails if any did
test: venv
	$(MAKE) -k pytest lint sanity units integration demo-check

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(GET_PIP_CACHE):
	mkdir -p $(dir $@)
	cp tools/get_pip_offline.py $@

pytest: venv
	$(BIN)/python -m pytest tests

lint: venv
	$(BIN)/ruff check .
	cd $(COLLECTION) && PATH=$(BIN):$$PATH ANSIBLE_ROLES_PATH=$(COLLECTION)/tests/integration/targets $(BIN)/ansible-lint
	# ansible-lint leaves a cache in the collection that ansible-test would check
	rm -rf $(COLLECTION)/.ansible
	@echo "lint: ruff and ansible-lint (production profile) passed"

sanity: venv $(GET_PIP_CACHE)
	rm -rf $(COLLECTION)/.ansible
	$(ANSIBLE_TEST) sanity $(ANSIBLE_TEST_PY)
	@echo "sanity: every ansible-test sanity test passed"

units: venv $(GET_PIP_CACHE)
	$(ANSIBLE_TEST) units $(ANSIBLE_TEST_PY)

integration: venv $(GET_PIP_CACHE)
	printf "piw_repo_root: %s\npiw_testbed_python: %s\npiw_state_dir: %s\n" "$(ROOT)" "$(BIN)/python" "$(IT_STATE)" > $(COLLECTION)/tests/integration/integration_config.yml
	$(ANSIBLE_TEST) integration $(ANSIBLE_TEST_PY)
	@echo "integration: every ansible-test integration target passed"

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
	rm -rf $(VENV) .demo $(COLLECTION)/tests/output
