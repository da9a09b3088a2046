# Two commands: `make run` and `make test`. Everything else is a building block.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
SF := $(PY) -m pipeline.cli

.PHONY: setup run test test-unit lint stack-up stack-down stack-status checkov compose-check clean

setup:
	@bash scripts/setup.sh

stack-up: setup
	$(SF) stack up

stack-down:
	@if [ -x $(PY) ]; then $(SF) stack down; fi

stack-status:
	$(SF) stack status

# The demo: local stack, simulator for every provider, connectors, worker, WebSocket feed.
run: stack-up
	$(SF) run

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy schemas pipeline connectors agents

checkov:
	bash scripts/checkov.sh

compose-check:
	@if docker compose version >/dev/null 2>&1; then docker compose config -q; \
	else docker-compose config -q; fi && echo "compose file: valid"

# Sets everything up, runs every check, and always stops the stack it started.
test: setup
	@status=0; \
	$(SF) stack up || status=$$?; \
	if [ $$status = 0 ]; then $(PY) -m pytest || status=$$?; fi; \
	$(SF) stack down || true; \
	if [ $$status = 0 ]; then $(MAKE) --no-print-directory lint || status=$$?; fi; \
	if [ $$status = 0 ] && [ -f scripts/checkov.sh ]; then $(MAKE) --no-print-directory checkov || status=$$?; fi; \
	if [ $$status = 0 ]; then $(MAKE) --no-print-directory compose-check || status=$$?; fi; \
	exit $$status

test-unit: setup
	$(PY) -m pytest -m "not integration"

clean: stack-down
	rm -rf .stack
