"""The abuse suite's worlds: the real `sportsflow api` and `sportsflow broadcast` processes on free
loopback ports, with their logs kept, so an attack is judged the way an operator would see it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from pipeline.resources import boto_client, ensure_table
from pipeline.settings import Settings
from tests.abuse.procs import INGEST_KEY, Proc, answers, start, stop
from tests.conftest import wait_for


@pytest.fixture(scope="session")
def abuse_table(stack: Settings) -> Iterator[str]:
    """A DynamoDB table of the suite's own (the local server scans whole tables on index queries)."""
    table = f"sftest-abuse-{uuid.uuid4().hex[:8]}"
    ensure_table(stack.model_copy(update={"aws": stack.aws.model_copy(update={"dynamodb_table": table})}))
    yield table
    boto_client(stack, "dynamodb").delete_table(TableName=table)


@pytest.fixture(scope="module")
def api_proc(abuse_table: str) -> Iterator[Proc]:
    """`sportsflow api` as an operator runs it, with an ingest key of its own."""
    proc = start(["api"], {"SPORTSFLOW_API__PORT": "{port}", "SPORTSFLOW_METRICS__PORT_API": "{metrics_port}",
                           "SPORTSFLOW_AWS__DYNAMODB_TABLE": abuse_table,
                           "SPORTSFLOW_API__INGEST_API_KEY": INGEST_KEY}, "api")
    try:
        wait_for(lambda: answers(f"{proc.url}/health", proc), timeout=60, message="the API to answer")
        yield proc
    finally:
        stop(proc)

