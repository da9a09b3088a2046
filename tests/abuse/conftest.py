"""The abuse suite's worlds: the real `sportsflow api` and `sportsflow broadcast` processes on free
loopback ports, with their logs kept, so an attack is judged the way an operator would see it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import orjson
import pytest

from pipeline.provision import ensure_table
from runtime.aws import boto_client
from runtime.settings import Settings
from schemas import topics
from tests.abuse.procs import (
    INGEST_KEY,
    ODDS_ONLY_KEY,
    Proc,
    answers,
    broadcaster_env,
    delete_topics,
    seed_canonical,
    start,
    stop,
)
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
    """`sportsflow api` as an operator runs it: an ingest key of its own for every provider, and a key
    that may post for theoddsapi only."""
    proc = start(["api"], {"SPORTSFLOW_API__PORT": "{port}", "SPORTSFLOW_METRICS__PORT_API": "{metrics_port}",
                           "SPORTSFLOW_AWS__DYNAMODB_TABLE": abuse_table,
                           "SPORTSFLOW_API__INGEST_API_KEY": INGEST_KEY,
                           "SPORTSFLOW_API__INGEST_KEYS": orjson.dumps(
                               [{"key": ODDS_ONLY_KEY, "providers": ["theoddsapi"]}]).decode()}, "api")
    try:
        wait_for(lambda: answers(f"{proc.url}/health", proc), timeout=60, message="the API to answer")
        yield proc
    finally:
        stop(proc)



@pytest.fixture(scope="module")
def canonical_prefix(stack: Settings) -> Iterator[str]:
    """Canonical topics of the module's own (`<prefix>canonical.*`) holding 1,000 events and 1,000 odds,
    so a subscribe-to-all queues a real snapshot."""
    prefix = f"abuse{uuid.uuid4().hex[:8]}."
    names = [prefix + t for t in topics.CANONICAL_TOPICS]
    asyncio.run(seed_canonical(stack, prefix, names))
    yield prefix
    asyncio.run(delete_topics(stack, names))


@pytest.fixture(scope="module")
def broadcaster_proc(canonical_prefix: str) -> Iterator[Proc]:
    """`sportsflow broadcast` with its default per-client limits (room for 1,000 clients and 50 pending);
    a dropped client that does not read gets 10 s to take its close frame."""
    env = broadcaster_env(canonical_prefix, max_clients=1100, max_pending=50, close_timeout_s=10)
    proc = start(["broadcast"], env, "broadcast")
    try:
        wait_for(lambda: answers(f"{proc.url}/health", proc), timeout=90, message="the broadcaster to answer")
        yield proc
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def tight_broadcaster_proc(canonical_prefix: str) -> Iterator[Proc]:
    """A broadcaster whose only bound on a flooding client is its 256 KB byte budget (no message rate
    limit), with small socket buffers so what the client does not read stays in the process."""
    proc = start(["broadcast"], broadcaster_env(
        canonical_prefix, max_queue_bytes=256 * 1024, max_messages_per_s=1_000_000, message_burst=1_000_000,
        socket_send_buffer=4096, write_buffer_bytes=4096, close_timeout_s=10), "broadcast-tight")
    try:
        wait_for(lambda: answers(f"{proc.url}/health", proc), timeout=90, message="the broadcaster to answer")
        yield proc
    finally:
        stop(proc)
