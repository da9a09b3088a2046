# Two commands: `make run` and `make test`. Everything else is a building block.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
SF := $(PY) -m pipeline.cli

.PHONY: setup run test test-unit lint stack-up stack-down stack-status checkov compose-check clean bench

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
	$(VENV)/bin/mypy schemas runtime connectors agents sinks pipeline
	$(VENV)/bin/lint-imports

checkov:
	bash scripts/checkov.sh

# The schema check (tests/compose, run by pytest) answers the same everywhere; `docker compose config`
# is an extra opinion where the v2 plugin happens to exist. Debian's docker-compose v1 is never used.
compose-check: setup
	$(PY) -m pytest -q tests/compose
	@if docker compose version >/dev/null 2>&1; then docker compose config -q && echo "docker compose config: valid"; \
	else echo "docker compose plugin not installed: schema check only"; fi

# The unit tier needs no server. It runs first, with every service address pointing at a closed port
# (port 9), so a unit test that quietly needs Kafka, DynamoDB, S3 or RabbitMQ fails here even on a
# machine where a stack happens to be running.
NO_STACK := SPORTSFLOW_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:9 \
	SPORTSFLOW_AWS__ENDPOINT_URL_DYNAMODB=http://127.0.0.1:9 SPORTSFLOW_AWS__ENDPOINT_URL_S3=http://127.0.0.1:9 \
	SPORTSFLOW_STACK__KAFKA_PORT=9 SPORTSFLOW_STACK__DYNAMODB_PORT=9 SPORTSFLOW_STACK__S3_PORT=9 \
	SPORTSFLOW_STACK__RABBITMQ_PORT=9

# Sets everything up, runs every check, and always stops the stack it started.
test: setup
	@status=0; \
	$(NO_STACK) $(PY) -m pytest -m "not integration" || status=$$?; \
	if [ $$status = 0 ]; then $(SF) stack up || status=$$?; fi; \
	if [ $$status = 0 ]; then $(PY) -m pytest -m integration || status=$$?; fi; \
	$(SF) stack down || true; \
	if [ $$status = 0 ]; then $(MAKE) --no-print-directory lint || status=$$?; fi; \
	if [ $$status = 0 ] && [ -f scripts/checkov.sh ]; then $(MAKE) --no-print-directory checkov || status=$$?; fi; \
	if [ $$status = 0 ] && docker compose version >/dev/null 2>&1; then docker compose config -q || status=$$?; fi; \
	exit $$status

# Speed: throughput, latency and scale-out against their same-run baselines (BENCHMARKS.md). A few minutes;
# needs the stack (started if it is not running). Not part of `make test`: speed is measured, not timed in tests.
bench: stack-up
	$(PY) -m benchmarks.bench

test-unit: setup
	$(NO_STACK) $(PY) -m pytest -m "not integration"

clean: stack-down
	rm -rf .stack
