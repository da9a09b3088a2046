"""The stream worker: stage 1 as an app service, stage 2 as a Faust agent, thin loops around `agents/stages/`.

    raw.<provider> --stage 1 (agents/intake.py)--> <app id>.resolve --resolve_and_order--> canonical.*
                        |   batches; one packed record              |
                        |   per resolve partition                   tables: fixtures, entities
                        +--> deadletter                             (changelog-backed)

Stage 1 is stateless: an aiokafka `getmany` loop (group `<app id>-normalize`) normalizes a batch of
raw records, sends one packed record per resolve partition (`agents/packing.py`: many candidates,
grouped by fixture key with Kafka's partitioner) and commits the batch's offsets once Kafka acked it.
Stage 2 keeps Faust's tables (partitions, standbys, changelog restore; RocksDB on local disk by default,
so a restart reads only the changelogs' tail): its agent unpacks a resolve record, processes the
candidates in order, sends the outputs in batches (`agents/publish.py`); resolve records already
waiting are taken together, and sent while the batch before is still in the air (`agents/held.py`).

Acknowledgement: stage 2 acks its records to Faust itself, once their outputs and state are out.
No exception may escape the body (Faust would restart the agent with records held): per-candidate
failures become dead letters, anything else stops the worker (`guard.fatal`), and a failure to publish
(Kafka unreachable past the producer's own retries) stops the worker *before* the record is acked
or the raw offsets committed (`agents.guard.fatal`), so it is processed again after the restart
(at-least-once; outputs are idempotent by entity key + seq). A state is written to the table's store
and its changelog only after the outputs it describes were acked (`agents/deferred_state.py`).

`install(app, load_settings)` registers the service, topics, tables, agents, tasks and timers on the
app that `pipeline/app.py` builds (`faust -A pipeline.app worker`); settings are read when they run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import faust

from agents import feed_health as health
from agents import guard, packing, reference, stages
from agents.deferred_state import DeferredState
from agents.held import Held
from agents.intake import Intake
from agents.liveness import InOrder, Liveness
from agents.publish import BatchPublisher, settle
from agents.recovery import TableManager
from agents.stages.normalize import OutRecord
from agents.stages.pins import PinsFile
from agents.stages.process import EntityStates, process_candidates
from agents.stages.resolve import FixtureCache
from runtime.observability.hooks import CanonicalTally, observe_native_stages, observe_processed
from runtime.observability.telemetry import run_telemetry
from runtime.settings import Settings
from schemas import headers as h
from schemas import topics
from schemas.providers import providers

log = logging.getLogger(__name__)
COMMIT_TIMEOUT_S = 60.0
RECOVERY_STALL_S = 60.0
IDLE_S = 10.0  # a resolve partition with records waiting and none delivered for this long is sought again


# One unit on purpose: the topics, tables and agents close over each other, and read top to bottom
# they are the worker's whole wiring.
def install(app: faust.App, load_settings: Callable[[], Settings]) -> None:  # noqa: PLR0915
    """Register the worker on `app`: stage 1's service, the resolve topic, changelog-backed tables, stage 2's
    agent, tasks, timers."""
    raw_topics = [topics.raw_topic(p) for p in providers()]
    # Per app id (like Faust's changelogs), so apps with different ids never consume each other's candidates.
    resolve_topic = app.topic(topics.resolve_topic(app.conf.id), value_type=bytes, key_type=bytes, internal=True)
    # Values are orjson bytes (the app's serializers are "raw"): faster than Faust's codecs.
    fixtures_table = app.Table("fixtures", key_type=bytes, value_type=bytes)
    entities_table = app.Table("entities", key_type=bytes, value_type=bytes)
    feed_health = health.FeedHealth()
    reference_teams = reference.ReferenceTeams()
    stage_one: list[Intake] = []
    # A commit or a table recovery that stopped moving ends the process (agents/liveness.py).
    liveness = Liveness(commit_timeout_s=COMMIT_TIMEOUT_S, recovery_stall_s=RECOVERY_STALL_S)
    in_order = InOrder()  # stage 2 reads each resolve partition without a hole, and keeps reading


    def _producer() -> Any:
        """The aiokafka producer under Faust's: one connection pool, stopped after the agents and services."""
        return app.producer._ensure_producer()  # type: ignore[attr-defined]


    @app.service
    class StageOne(Intake):
        """Stage 1 (raw -> packed candidates), started with the worker after table recovery."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(settings=load_settings(), app_id=app.conf.id, raw_topics=raw_topics,
                             resolve_topic=resolve_topic.get_topic_name(), producer=_producer, **kwargs)
            stage_one.append(self)


    async def _publish(publisher: BatchPublisher, out: OutRecord, tally: CanonicalTally,
                       app_stamp: tuple[str, bytes]) -> None:
        headers = [*out.headers, app_stamp, (h.PUBLISHED_TS, h.ms(h.now_ms()))]
        if out.topic in topics.CANONICAL_TOPICS:
            tally.add(headers)
        await publisher.add(out.topic, out.key, out.value, headers)


    @app.agent(resolve_topic)
    async def resolve_and_order(stream: Any) -> None:  # noqa: PLR0915 - one record's life, top to bottom
        """Resolve, dedupe, order and version candidates; publish what changed.

        One resolve record carries a batch of candidates (`agents/packing.py`). Records already
        waiting behind it are processed too (`agents/held.py`); then their outputs are sent in
        batches, and the agent goes on while they are in the air. When Kafka has acked them, the
        state changes are written to the stores and the changelogs (one write per key), the records
        are acked to Faust, and what was processed meanwhile is sent.
        """
        settings = load_settings().processing
        policy = guard.policy(settings)
        tolerance_ms = int(settings.match_tolerance_s * 1000)
        grace_ms = int(settings.discrepancy_grace_s * 1000)
        expiry = guard.Expiry(int(settings.dedupe_ttl_s * 1000))
        fixture_expiry = guard.Expiry(int(settings.fixture_ttl_s * 1000))
        state = DeferredState()
        parsed_fixtures = FixtureCache()
        pins = PinsFile(load_settings().processing.team_pins_file)
        publisher = BatchPublisher(_producer())
        changelog = BatchPublisher(_producer())
        tally = CanonicalTally()  # the batch's published records, observed once it is out
        app_stamp = (h.APP, app.conf.id.encode())  # Faust's settings cost ~1 µs a read: once, not per output
        entity_states = EntityStates()

        def entity_state(key: str) -> Any:
            return entity_states.get(key, state.get(entities_table, key.encode()))

        async def send() -> Callable[[], Awaitable[None]]:
            """Send the held records' outputs; the landing awaits their acks, then writes their state."""
            sent, writes, published = await publisher.send(), state.detach(), tally.take()

            async def land() -> None:
                await settle(sent)  # a failed delivery has stopped the worker: no changelog, no ack
                published.observe()
                await state.write(writes, changelog)

            return land

        # Records waiting behind this one are processed before the send; one batch in the air at a time.
        held = Held(send, stream.ack)
        stream.enable_acks = False
        if not isinstance(app.tables, TableManager):
            raise TypeError("the worker needs agents.recovery.TableManager (pipeline/app.py builds the app with it)")
        app.tables.on_revoke.append(held.release_soon)
        waiting = stream.channel.queue

        async def process(event: Any) -> int:
            """Process one resolve record into the publisher and the deferred state; the number of candidates."""
            message = event.message
            partition = message.partition
            pins.refresh()
            # After a rebalance both indexes are rebuilt from the restored tables (see Expiry.reset).
            if guard.rebalanced(app.consumer_generation_id, expiry, fixture_expiry) or partition not in expiry.indexed:
                state.forget_reads()
                _index_tables(expiry, fixture_expiry, {partition} | _assigned())
            try:
                candidates = packing.unpack(message.key, message.value, list(message.headers or []))
            except ValueError as exc:
                log.exception("malformed resolve record %s@%s", partition, message.offset)
                observe_processed("resolve", dead_letter=True)
                await _publish(publisher, guard.resolve_dead_letter(
                    message.topic, partition, message.offset, message.value, exc), tally, app_stamp)
                candidates = []
            for candidate in candidates:
                route = candidate.route
                try:
                    fixtures = parsed_fixtures.get(route, state.get(fixtures_table, route))
                    result = process_candidates(
                        route.decode(), candidate.value, candidate.headers,
                        fixtures, entity_state, policy=policy, tolerance_ms=tolerance_ms, is_down=feed_health.is_down,
                        ttl_ms=expiry.ttl_ms, discrepancy_grace_ms=grace_ms,
                    )
                except Exception as exc:
                    parsed_fixtures.forget(route)  # it may hold a half-applied change
                    log.exception("cannot process a candidate of resolve record %s@%s", partition, message.offset)
                    observe_processed("resolve", dead_letter=True)
                    await _publish(publisher, guard.resolve_dead_letter(
                        message.topic, partition, message.offset, candidate.value, exc), tally, app_stamp)
                    continue
                for out in result.outputs:
                    await _publish(publisher, out, tally, app_stamp)
                if result.fixtures_changed:
                    stored = guard.dumps([f.as_dict() for f in fixtures])
                    state.set(fixtures_table, partition, route, stored)
                    parsed_fixtures.put(route, stored, fixtures)
                    fixture_expiry.touch(partition, route.decode(), max(f.start_ms for f in fixtures))
                for key, entity in result.entities.items():
                    entity["p"] = partition  # so the expiry index can be rebuilt from the table after a restart
                    stored = guard.dumps(entity)
                    state.set(entities_table, partition, key.encode(), stored)
                    entity_states.put(key, stored, entity)
                    expiry.touch(partition, key, entity["updated"])
            now = h.now_ms()
            for key in expiry.due(partition, now_ms=expiry.stream_ms(partition, now)):
                state.delete(entities_table, partition, key.encode())
            for route_key in fixture_expiry.due(partition, now_ms=now):
                parsed_fixtures.forget(route_key.encode())
                state.delete(fixtures_table, partition, route_key.encode())
            return len(candidates)

        await reference_teams.wait_loaded()  # the team lists first (bounded): they decide which names meet
        async for event in stream.events():
            async with held.lock:
                try:
                    if await in_order.check(app.consumer, app.consumer_generation_id, event.message.tp,
                                            event.message.offset):
                        held.add(event, await process(event))
                    else:
                        held.add(event, 0)  # already processed by this worker in this generation
                except Exception as exc:  # a bug, or a broker error, outside the per-candidate guard
                    # Faust would restart the agent: the records held were processed but their outputs and
                    # state never flushed, and InOrder would skip them when read again. Stopping is the
                    # safe way on: the next worker reads them again from the last commit.
                    log.exception("stage 2 failed on %s@%s", event.message.tp, event.message.offset)
                    guard.fatal(f"stage 2 failed on {event.message.tp}@{event.message.offset}: {exc!r}")
                if held.full() or waiting.empty() or not app.flow_control.is_active():
                    await held.release()  # sent now, or when the batch in the air lands
            await held.room()  # at the bound: wait (not holding the lock) for the batch in the air to land


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
        native = stages.compiled()
        log.info("stages compiled by mypyc: %s of %s (%s)", len(native), len(stages.NATIVE),
                 ", ".join(native) or "none: plain Python; `make setup` builds them")
        observe_native_stages(len(native))
        await run_telemetry(load_settings(), "worker")


    @app.timer(interval=10.0)  # type: ignore[untyped-decorator]
    async def stall_watchdog() -> None:
        liveness.check(app)
        resolve_name = resolve_topic.get_topic_name()
        await in_order.kick_idle(app.consumer, app.consumer_generation_id,
                                 {tp for tp in app.consumer.assignment() if tp.topic == resolve_name}, IDLE_S)
        await guard.watchdog(app, load_settings().processing.stall_timeout_s,
                             raw_lag=sum(intake.lag() for intake in stage_one))

