"""What the worker knows of the providers' teams: the team registry, kept current from `reference.teams`.

Every worker reads the whole compacted topic (no consumer group) from the beginning, then follows it,
like `agents/feed_health.py` follows canonical.feed_status. After each batch that changed a team the
registry is rebuilt (`agents.stages.teams.set_source`, off the event loop: it compares names) and name
resolution uses it from the next record on. With nothing on the topic, matching works as without a
registry (names, the alias table, pins).
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from agents.stages import teams as registry
from runtime.kafka import client_options, partitions_of
from runtime.settings import Settings
from schemas import topics
from schemas.reference import TeamReference

log = logging.getLogger(__name__)
SOURCE = "topic"
RETRY_S = 5.0
READY_TIMEOUT_S = 30.0  # a worker never waits longer than this for the team lists before resolving


class ReferenceTeams:
    """The latest record per provider team (what compaction keeps), by the topic's key."""

    def __init__(self) -> None:
        self.teams: dict[bytes, registry.ReferenceTeam] = {}
        # Set once the topic has been read up to where it ended at start (or found missing): resolving before
        # that would match by names alone and could start a second fixture for a spelling the lists know.
        self.loaded = asyncio.Event()

    async def wait_loaded(self, timeout_s: float = READY_TIMEOUT_S) -> bool:
        """Wait (bounded) for the registry to be loaded; False when it was not in time (matching goes on)."""
        try:
            async with asyncio.timeout(timeout_s):
                await self.loaded.wait()
        except TimeoutError:
            log.warning("team registry not loaded after %.0fs: resolving by names until it is", timeout_s)
            return False
        return True

    def update(self, key: bytes | None, value: bytes | None) -> bool:
        """Apply one record; True when the registry must be rebuilt."""
        if key is None:
            return False
        if value is None:  # a tombstone: the provider no longer lists the team
            return self.teams.pop(key, None) is not None
        try:
            team = registry.from_record(TeamReference.model_validate_json(value))
        except ValidationError:
            log.warning("ignoring a malformed reference.teams record %r", key)
            return False
        if self.teams.get(key) == team:
            return False
        self.teams[key] = team
        return True

    async def apply(self) -> int:
        """Rebuild the registry: compiled in a thread (it compares every name), put in force on the loop."""
        teams = list(self.teams.values())
        compiled = await asyncio.to_thread(registry.compile_registry, registry.all_teams(SOURCE, teams))
        registry.install(SOURCE, teams, compiled)
        return len(compiled.teams)


async def follow(settings: Settings, reference: ReferenceTeams, stop: asyncio.Event | None = None) -> None:
    """Read reference.teams from the beginning, then follow it; rebuild the registry after each change."""
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        ids = await _partitions(consumer, stop, reference)
        partitions = [TopicPartition(topics.REFERENCE_TEAMS, p) for p in ids]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions) if partitions else {}
        while stop is None or not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500)
            changed = False
            for messages in batches.values():
                for message in messages:
                    changed |= reference.update(message.key, message.value)
            caught_up = not reference.loaded.is_set() and await _caught_up(consumer, ends)
            if changed or caught_up:
                count = await reference.apply()
                log.info("team registry: %d provider teams, %d canonical teams", len(reference.teams), count)
            if caught_up:
                reference.loaded.set()
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, stop: asyncio.Event | None, reference: ReferenceTeams) -> set[int]:
    """The topic's partitions; until it exists (no connector has run yet) wait for it, matching without it."""
    warned = False
    while True:
        try:
            return await partitions_of(consumer, topics.REFERENCE_TEAMS)
        except (LookupError, TimeoutError) as exc:
            if not warned:
                log.warning("%s: no team registry until it exists (%s); retrying", topics.REFERENCE_TEAMS, exc)
                warned = True
            reference.loaded.set()  # nothing to wait for
        if stop is not None and stop.is_set():
            return set()
        await asyncio.sleep(RETRY_S)


async def _caught_up(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    """Read every partition up to where it ended when following began."""
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True
