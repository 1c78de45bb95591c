# fleet.ecs_anywhere: one pinned environment (.venv) and one test command (`make test`).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
VENV_STAMP := $(VENV)/.installed
BIN := $(CURDIR)/$(VENV)/bin
BUILD := $(CURDIR)/build
COLLECTION_LINK := $(BUILD)/collections/ansible_collections/fleet/ecs_anywhere
export ANSIBLE_COLLECTIONS_PATH := $(BUILD)/collections
export ANSIBLE_CONFIG := $(CURDIR)/tests/ansible.cfg
export PATH := $(BIN):$(PATH)
export PYTHONDONTWRITEBYTECODE := 1
MOLECULE_DISTROS ?= debian12

.PHONY: help
help:
	@echo "make demo        run the main job: offline AWS + three Debian 12 hosts registered as ECS Anywhere instances"
	@echo "make demo-clean  remove everything the demo started"
	@echo "make test        everything CI runs (lint, sanity, unit, emulator, agents, integration, proving, molecule, molecule-families, e2e, e2e-faults)"
	@echo "make venv | images | agents | build | lint | sanity | units | integration | molecule | test-distros"

# ---------------------------------------------------------------- environment
$(VENV_STAMP): requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3
	$(BIN)/pip install --quiet -r requirements/dev.txt
	touch $@

.PHONY: venv
venv: $(VENV_STAMP) $(COLLECTION_LINK)

$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../../.. $@

.PHONY: lock
lock:
	rm -rf $(BUILD)/lock-venv && $(PYTHON) -m venv $(BUILD)/lock-venv
	$(BUILD)/lock-venv/bin/pip install --quiet -r requirements/dev.in
	{ echo "# Full lock of requirements/dev.in (Python 3.11). Regenerate with: make lock"; \
	  $(BUILD)/lock-venv/bin/pip freeze; } > requirements/dev.txt

.PHONY: docker
docker:
	tests/harness/ensure-docker.sh

.PHONY: images
images: docker
	tests/images/build.sh $$(tests/images/build.sh --list)

.PHONY: image-debian12
image-debian12: docker
	tests/images/build.sh debian12

include tests/agents/agents.mk

# ---------------------------------------------------------------- collection artifact
.PHONY: build
build: venv
	rm -rf $(BUILD)/dist && mkdir -p $(BUILD)/dist
	$(BIN)/ansible-galaxy collection build --output-path $(BUILD)/dist .

.PHONY: build-test
build-test: build
	tests/build/test_artifact.sh $(BUILD)/dist/fleet-ecs_anywhere-*.tar.gz

# ---------------------------------------------------------------- static checks
.PHONY: lint
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check plugins
	$(BIN)/yamllint -s .
	$(BIN)/ansible-lint --profile production

.PHONY: sanity
sanity: venv
	tests/sanity/run.sh

# ---------------------------------------------------------------- tests
.PHONY: units
units: venv
	tests/harness/ensure-build-tools.sh signatures
	$(BIN)/python -m pytest -q tests/unit

.PHONY: emulator-tests
emulator-tests: venv
	$(BIN)/python -m pytest -q tests/emulator/tests

.PHONY: integration
integration: venv
	tests/integration/run.sh

.PHONY: proving
proving: venv docker image-debian12 agents
	$(BIN)/python -m pytest -q tests/proving

.PHONY: molecule
molecule: venv docker image-debian12 agents
	for distro in $(MOLECULE_DISTROS); do MOLECULE_DISTRO=$$distro tests/molecule.sh default; done

# One synthetic host of each other family (Ubuntu, EL9, Amazon Linux 2023, SUSE), all on one activation.
.PHONY: molecule-families
molecule-families: venv docker agents
	tests/molecule.sh families

.PHONY: role-faults
role-faults: venv docker image-debian12 agents
	$(BIN)/python -m pytest -q tests/roles/test_role_faults.py tests/roles/test_family_faults.py

.PHONY: docker-repo
docker-repo: venv docker image-debian12 agents
	$(BIN)/python -m pytest -q tests/roles/test_docker_repo.py

# The releases make test leaves out: Debian 11 and 13, and the other synthetic hosts of each family.
.PHONY: test-distros
test-distros: venv images agents
	for distro in debian11 debian13; do MOLECULE_DISTRO=$$distro tests/molecule.sh default; done
	ECSA_FAMILY_1=ubuntu2204 ECSA_FAMILY_2=alma9 ECSA_FAMILY_3=centos-stream9 ECSA_FAMILY_4=sles15 \
	  tests/molecule.sh families
	ECSA_FAMILY_1=rhel9 ECSA_FAMILY_2=fedora ECSA_FAMILY_3=rocky10 ECSA_FAMILY_4=leap156 tests/molecule.sh families

.PHONY: e2e
e2e: venv docker image-debian12 agents
	$(BIN)/python -m pytest -q tests/e2e/test_lifecycle.py

.PHONY: e2e-faults
e2e-faults: venv docker image-debian12 agents
	$(BIN)/python -m pytest -q tests/e2e/test_playbook_faults.py

# ---------------------------------------------------------------- the main job
.PHONY: demo
demo: venv docker image-debian12 agents
	tests/demo/run.sh

.PHONY: demo-clean
demo-clean:
	tests/demo/clean.sh

.PHONY: test
test: lint sanity build-test units emulator-tests agents-test integration proving molecule molecule-families role-faults docker-repo e2e e2e-faults
	@echo "make test: all suites passed"
