"""The stream worker's Faust agents: thin loops around the pure stages in `agents/stages/`.

Two stages, each a thin agent around a pure function:

    raw.<provider> --normalize_raw--> <app id>.resolve (keyed by fixture) --resolve_and_order--> canonical.*
                        |                                                        |
                        +--> deadletter                         tables: fixtures, entities (changelog-backed)

Acknowledgement: Faust acks a record in a `finally:`, even when the agent body raised. So no
exception may escape a body: per-record failures become dead letters, and a failure to publish
(Kafka unreachable past the producer's own retries) stops the worker *before* the record is acked
(`agents.guard.fatal`), so it is processed again after the restart (at-least-once; outputs are
idempotent by entity key + seq).

`install(app, load_settings)` registers the topics, tables, agents, tasks and timers on the app that
`pipeline/app.py` builds (`faust -A pipeline.app worker`); settings are read when they run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import faust

from agents import feed_health as health
from agents import guard, reference
from agents.stages.normalize import RESOLVE, OutRecord, process_raw
from agents.stages.pins import PinsFile
from agents.stages.process import process_candidates
from agents.stages.resolve import FixtureCache
from runtime.observability.hooks import observe_canonical, observe_processed
from runtime.observability.telemetry import run_telemetry
from runtime.settings import Settings
from schemas import headers as h
from schemas import topics
from schemas.providers import providers

log = logging.getLogger(__name__)


# One unit on purpose: the topics, tables and agents close over each other, and read top to bottom
# they are the worker's whole wiring.
def install(app: faust.App, load_settings: Callable[[], Settings]) -> None:  # noqa: PLR0915
    """Register the worker on `app`: topics, changelog-backed tables, the two stage agents, tasks, timers."""
    raw_topic = app.topic(*(topics.raw_topic(p) for p in providers()), value_type=bytes, key_type=bytes)
    # Per app id (like Faust's changelogs), so apps with different ids never consume each other's candidates.
    resolve_topic = app.topic(topics.resolve_topic(app.conf.id), value_type=bytes, key_type=bytes, internal=True)
    # Values are orjson bytes (the app's serializers are "raw"): faster than Faust's codecs.
    fixtures_table = app.Table("fixtures", key_type=bytes, value_type=bytes)
    entities_table = app.Table("entities", key_type=bytes, value_type=bytes)
    _out_topics: dict[str, Any] = {}
    feed_health = health.FeedHealth()
    reference_teams = reference.ReferenceTeams()


    def _topic(name: str) -> Any:
        if name == RESOLVE:
            return resolve_topic
        topic = _out_topics.get(name)
        if topic is None:
            topic = _out_topics[name] = app.topic(name, value_type=bytes, key_type=bytes)
        return topic


    async def _publish(out: OutRecord) -> Any:
        headers = [*out.headers, (h.APP, app.conf.id.encode()), (h.PUBLISHED_TS, h.ms(h.now_ms()))]
        if out.topic in topics.CANONICAL_TOPICS:
            observe_canonical(headers)
        return await guard.send_or_die(_topic(out.topic), key=out.key, value=out.value, headers=headers)


    @app.agent(raw_topic)
    async def normalize_raw(stream: Any) -> None:
        """Every raw record becomes resolve candidates or a dead letter before it is acked."""
        async for event in stream.events():
            message = event.message
            processed = process_raw(
                message.topic, message.partition, message.offset, message.value, list(message.headers or [])
            )
            provider = topics.provider_of_raw_topic(message.topic)
            observe_processed(provider, dead_letter=processed.dead_letter is not None)
            for out in processed.records:
                await _publish(out)
            if processed.dead_letter is not None:
                log.warning("dead letter from %s:%s@%s", message.topic, message.partition, message.offset)
                await _publish(processed.dead_letter)


    @app.agent(resolve_topic)
    async def resolve_and_order(stream: Any) -> None:
        """Resolve, dedupe, order and version candidates; publish what changed.

        Works in small batches: the batch's outputs are awaited (acked by Kafka) once, then the
        state changes are written to the changelog, then Faust acks the batch's records.
        """
        settings = load_settings().processing
        policy = guard.policy(settings)
        tolerance_ms = int(settings.match_tolerance_s * 1000)
        grace_ms = int(settings.discrepancy_grace_s * 1000)
        expiry = guard.Expiry(int(settings.dedupe_ttl_s * 1000))
        fixture_expiry = guard.Expiry(int(settings.fixture_ttl_s * 1000))
        state = guard.DeferredState()
        parsed_fixtures = FixtureCache()
        pins = PinsFile(load_settings().processing.team_pins_file)

        def entity_state(key: str) -> Any:
            return guard.loads_or_none(entities_table.data.get(key.encode()))

        await reference_teams.wait_loaded()  # the team lists first (bounded): they decide which names meet
        async for events in stream.take_events(512, within=0.002):
            pins.refresh()
            futures = []
            if any(e.message.partition not in expiry.indexed for e in events):
                _index_tables(expiry, fixture_expiry, {e.message.partition for e in events} | _assigned())
            for event in events:
                message = event.message
                try:
                    fixtures = parsed_fixtures.get(message.key, fixtures_table.data.get(message.key))
                    result = process_candidates(
                        message.key.decode() if message.key else "", message.value, list(message.headers or []),
                        fixtures, entity_state, policy=policy, tolerance_ms=tolerance_ms, is_down=feed_health.is_down,
                        ttl_ms=expiry.ttl_ms, discrepancy_grace_ms=grace_ms,
                    )
                except Exception as exc:
                    parsed_fixtures.forget(message.key)  # it may hold a half-applied change
                    log.exception("cannot process resolve message %s@%s", message.partition, message.offset)
                    observe_processed("resolve", dead_letter=True)
                    futures.append(await _publish(guard.resolve_dead_letter(message, exc)))
                    continue
                futures.extend([await _publish(out) for out in result.outputs])
                partition = message.partition
                if result.fixtures_changed:
                    stored = guard.dumps([f.as_dict() for f in fixtures])
                    state.set(fixtures_table, partition, message.key, stored)
                    parsed_fixtures.put(message.key, stored, fixtures)
                    fixture_expiry.touch(partition, message.key.decode(), max(f.start_ms for f in fixtures))
                for key, entity in result.entities.items():
                    entity["p"] = partition  # so the expiry index can be rebuilt from the table after a restart
                    state.set(entities_table, partition, key.encode(), guard.dumps(entity))
                    expiry.touch(partition, key, entity["updated"])
                now = h.now_ms()
                for key in expiry.due(partition, now_ms=now):
                    state.delete(entities_table, partition, key.encode())
                for route in fixture_expiry.due(partition, now_ms=now):
                    parsed_fixtures.forget(route.encode())
                    state.delete(fixtures_table, partition, route.encode())
            if futures:
                await asyncio.gather(*futures)  # a failed delivery has already stopped the worker
            state.flush()


    def _assigned() -> set[int]:
        """The resolve topic's partitions this worker holds now (their tables are restored before processing)."""
        name = resolve_topic.get_topic_name()
        return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == name}


    def _index_tables(expiry: guard.Expiry, fixture_expiry: guard.Expiry, partitions: set[int]) -> None:
        """Rebuild the expiry indexes from the tables (restored from their changelogs) for new partitions."""
        started = time.monotonic()
        entities = expiry.seed(guard.entity_entries(entities_table.data.items()), partitions)
        fixtures = fixture_expiry.seed(
            guard.fixture_entries(fixtures_table.data.items(), app.conf.topic_partitions), partitions)
        log.info("expiry indexed %d entities and %d fixture routes for partitions %s in %.2fs",
                 entities, fixtures, sorted(partitions), time.monotonic() - started)


    @app.task  # type: ignore[untyped-decorator]
    async def follow_feed_status() -> None:
        """Keep `feed_health` current from canonical.feed_status (every worker reads all of it)."""
        await health.follow(load_settings(), feed_health)


    @app.task  # type: ignore[untyped-decorator]
    async def follow_reference_teams() -> None:
        """Keep the team registry current from reference.teams (every worker reads all of it)."""
        await reference.follow(load_settings(), reference_teams)


    @app.task  # type: ignore[untyped-decorator]
    async def telemetry() -> None:
        """Prometheus /metrics and the CloudWatch EMF flusher for this worker."""
        await run_telemetry(load_settings(), "worker")


    @app.timer(interval=10.0)  # type: ignore[untyped-decorator]
    async def stall_watchdog() -> None:
        await guard.watchdog(app, load_settings().processing.stall_timeout_s)

