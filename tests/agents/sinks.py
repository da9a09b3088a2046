"""Helpers shared by the sink tests: run a sink in-process, produce canonical records, read the table."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from runtime.settings import Settings
from schemas.canonical import Event, Score
from tests.conftest import TIME_UNIT


def sink_settings(stack: Settings, unique: str) -> Settings:
    """The stack's settings with a fresh app id (so a fresh consumer group) for one test."""
    processing = stack.processing.model_copy(update={"app_id": f"sftest-{unique}"})
    sink = stack.dynamodb_sink.model_copy(update={"backoff_initial_s": 0.05, "backoff_max_s": 0.2})
    return stack.model_copy(update={"processing": processing, "dynamodb_sink": sink})


@contextlib.asynccontextmanager
async def running(run: Callable[[asyncio.Event, asyncio.Event], Awaitable[None]]) -> AsyncIterator[asyncio.Task]:
    """Start `run(stop, ready)` as a task, wait until it is consuming, stop it (and re-raise its error) at exit."""
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run(stop, ready))
    waiter = asyncio.create_task(ready.wait())
    done, _ = await asyncio.wait({task, waiter}, timeout=60 * TIME_UNIT, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task in done:
        task.result()
    assert ready.is_set(), "the sink did not get its partitions"
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 30 * TIME_UNIT)


async def produce(settings: Settings, topic: str, key: bytes, value: bytes) -> tuple[int, int]:
    """Send one record; return its (partition, offset)."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        meta = await producer.send_and_wait(topic, value=value, key=key)
    finally:
        await producer.stop()
    return meta.partition, meta.offset


def event(event_id: str, seq: int, *, status: str = "live", home: int = 0, sport: str = "basketball",
          league: str = "NBA", start: datetime | None = None) -> Event:
    return Event(id=event_id, sport=sport, league=league, home_team="Home", away_team="Away",
                 score=Score(home=home, away=0), status=status,
                 start_time=start or datetime.now(UTC).replace(microsecond=0), provider_event_id=event_id,
                 provider="sportsdataio", timestamp=datetime.now(UTC), seq=seq)


async def eventually(check: Callable[[], Awaitable[object]], timeout: float = 30.0, message: str = "condition"):
    """Await `check()` until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout * TIME_UNIT
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        await asyncio.sleep(0.1)
