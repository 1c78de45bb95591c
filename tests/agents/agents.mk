# Stand-in agent packages + signed mirror (tests/agents). Included by the top-level Makefile.
#   make agents        build build/agents/*.deb and build/mirror/ (no-op when inputs are unchanged)
#   make agents-test   run the stand-in test suite
#   make agents-clean  remove the packages and the mirrors (keeps the test key in build/gpg)
AGENTS_BUILD ?= build
AGENTS_PY ?= $(if $(wildcard .venv/bin/python),.venv/bin/python,python3)

.PHONY: agents agents-test agents-clean
agents:
	tests/agents/build_mirror.sh $(AGENTS_BUILD)

agents-test: agents
	$(AGENTS_PY) -m pytest tests/agents/tests -q

agents-clean:
	rm -rf $(AGENTS_BUILD)/agents $(AGENTS_BUILD)/mirror $(AGENTS_BUILD)/mirror-next
