"""Replay: raw records -> the current normalizers -> canonical records, in-process (`sportsflow replay`).

The worker's two pure stages run here unchanged: `process_raw` (stage 1) then
`process_candidates` (stage 2) with this replay's own in-memory state. Canonical ids are
deterministic (`agents/resolve.canonical_id`), so they match the live stream. A replay is its own
lineage: its versions carry the replay's epoch (its start time, kept across `--resume`) and count
1, 2, 3... over what it *publishes*, so (entity, epoch, seq) still names one content and a consumer
sees no false gap. Entity state expires after `processing.dedupe_ttl_s` of *record* time, as it would
have in the live worker when the records were new.

Idempotence ("a second replay changes nothing"): before publishing, the replay reads the output
topics from `published_from` on and counts each `(topic, entity key, content)` already there
(content: `agents.stages.ordering.content_hash`, which ignores seq, timestamps and source, less the
fixture's reporters in `providerNames`). The n-th
replayed version with some content is published only if the topic holds fewer than n of them.
So replaying a range twice publishes nothing the second time: consumers (WebSocket clients, the
DynamoDB sink, the archive) see no new record. Replaying into the canonical topics publishes only
versions the live stream did not (a normalizer fix), exactly once; across epochs the newer version
is the one with the later record time, so the DynamoDB sink keeps them as history without replacing
a newer live state.

Dead letters are counted and reported, never published (the original run dead-lettered them).
Cancel-safe: stopping (the `stop` event, Ctrl-C) finishes the record in hand, flushes the producer
and writes the resume position.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson
from aiokafka import AIOKafkaProducer

from agents import guard
from agents.stages.normalize import OutRecord, process_raw
from agents.stages.ordering import content_hash
from agents.stages.process import process_candidates
from agents.stages.resolve import Fixture
from pipeline.replay.select import TP, Position, Selection, SelectionError, load_position
from pipeline.replay.source import Plan, RawRecord, make_consumer, read_published
from runtime.kafka import client_options
from runtime.settings import ProcessingSettings, Settings
from schemas import headers as h
from schemas import topics

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Pure: the two stages with in-memory state


@dataclass
class Outcome:
    outputs: list[OutRecord] = field(default_factory=list)
    dead_letter: OutRecord | None = None


class Replayer:
    """Stage 1 + stage 2 over one replay's state. `state()`/`restore()` round-trip it through JSON."""

    def __init__(self, processing: ProcessingSettings, epoch: int | None = None) -> None:
        self.epoch = h.now_ms() if epoch is None else epoch
        self.published_seq: dict[str, int] = {}  # topic|entity key -> last seq this replay published
        self._policy = guard.policy(processing)
        self._tolerance_ms = int(processing.match_tolerance_s * 1000)
        self._ttl_ms = int(processing.dedupe_ttl_s * 1000)
        self._grace_ms = int(processing.discrepancy_grace_s * 1000)
        self.fixtures: dict[str, list[Fixture]] = {}
        self.entities: dict[str, dict[str, Any]] = {}
        self._now_ms = 0

    def _entity(self, key: str) -> dict[str, Any] | None:
        state = self.entities.get(key)
        if state is not None and self._now_ms - int(state.get("updated", 0)) > self._ttl_ms:
            return None  # the worker would have expired it by now
        return state

    def process(self, record: RawRecord) -> Outcome:
        stage1 = process_raw(record.topic, record.partition, record.offset, record.value, record.headers)
        if stage1.dead_letter is not None:
            return Outcome(dead_letter=stage1.dead_letter)
        outcome = Outcome()
        for candidate in stage1.records:
            route = candidate.key.decode()
            received = dict(candidate.headers).get(h.RECEIVED_TS)
            self._now_ms = int(received) if received else record.timestamp
            fixtures = self.fixtures.setdefault(route, [])
            result = process_candidates(route, candidate.value, candidate.headers, fixtures, self._entity,
                                        policy=self._policy, tolerance_ms=self._tolerance_ms,
                                        is_down=lambda _source: False, epoch=self.epoch,
                                        discrepancy_grace_ms=self._grace_ms)
            self.entities.update(result.entities)
            outcome.outputs.extend(result.outputs)
        return outcome

    def renumber(self, topic: str, out: OutRecord) -> OutRecord:
        """The version as published: seqs count what this replay publishes (admitted records only)."""
        ident = f"{topic}|{out.key.decode()}"
        seq = self.published_seq.get(ident, 0) + 1
        self.published_seq[ident] = seq
        record = orjson.loads(out.value)
        record.update(epoch=self.epoch, seq=seq)
        if record.get("correction"):
            record["replacesSeq"] = seq - 1 if seq > 1 else None
        return OutRecord(out.topic, out.key, orjson.dumps(record), out.headers)

    def state(self) -> dict[str, Any]:
        return {"fixtures": {r: [f.as_dict() for f in fs] for r, fs in self.fixtures.items()},
                "entities": self.entities, "epoch": self.epoch, "publishedSeq": self.published_seq}

    def restore(self, state: dict[str, Any]) -> None:
        self.fixtures = {r: [Fixture.from_dict(f) for f in fs] for r, fs in state.get("fixtures", {}).items()}
        self.entities = dict(state.get("entities", {}))
        self.epoch = int(state.get("epoch", self.epoch))
        self.published_seq = dict(state.get("publishedSeq", {}))


class Dedupe:
    """Admits the n-th version with some content for an entity only if the topic holds fewer than n."""

    def __init__(self, existing: Counter[str] | None = None) -> None:
        self.existing: Counter[str] = existing or Counter()
        self.emitted: Counter[str] = Counter()

    @staticmethod
    def identity(topic: str, key: bytes, value: bytes) -> str:
        record = orjson.loads(value)
        # Who reported the fixture (`providerNames`; `refs` is left out by `content_hash`) depends on the order
        # two providers' first records were processed, which a live worker and a replay (reading by record
        # time) may see differently, milliseconds apart: a version differing only in it is already there.
        if isinstance(record, dict):
            record.pop("providerNames", None)
        return f"{topic}|{key.decode()}|{content_hash(record)}"

    def add_existing(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        if key is None or not value:
            return
        try:
            self.existing[self.identity(topic, key, value)] += 1
        except (orjson.JSONDecodeError, AttributeError, TypeError):
            return  # not a canonical record: nothing a replay could duplicate

    def admit(self, topic: str, record: OutRecord) -> bool:
        ident = self.identity(topic, record.key, record.value)
        self.emitted[ident] += 1
        return self.emitted[ident] > self.existing[ident]


# ---------------------------------------------------------------------------------------------
# Outputs


class Output(Protocol):
    async def send(self, topic: str, record: OutRecord) -> None: ...
    async def flush(self) -> None: ...


@dataclass
class MemoryOutput:
    records: list[tuple[str, OutRecord]] = field(default_factory=list)

    async def send(self, topic: str, record: OutRecord) -> None:
        self.records.append((topic, record))

    async def flush(self) -> None:
        return


class KafkaOutput:
    """An idempotent producer (acks=all): a retried send is never written twice by the broker."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: Any = None
        self._pending: list[Any] = []

    async def __aenter__(self) -> KafkaOutput:


        self._producer = AIOKafkaProducer(**client_options(self._settings), acks="all", enable_idempotence=True,
                                          linger_ms=5, max_batch_size=1 << 20)
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()  # flushes what is pending

    async def send(self, topic: str, record: OutRecord) -> None:
        self._pending.append(await self._producer.send(topic, key=record.key, value=record.value,
                                                       headers=record.headers))
        if len(self._pending) >= 1000:
            await self.flush()

    async def flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending)


# ---------------------------------------------------------------------------------------------
# The run


@dataclass
class Report:
    source: str = ""
    selected: int = 0
    read: int = 0
    dead_letters: int = 0
    produced: Counter[str] = field(default_factory=Counter)
    published: Counter[str] = field(default_factory=Counter)
    already_present: int = 0
    filtered: int = 0  # read but outside the selection (--key, or a timestamp out of order)
    stopped: bool = False
    resume_file: Path | None = None
    dead_reasons: Counter[str] = field(default_factory=Counter)
    published_examples: list[bytes] = field(default_factory=list)  # the first few records published, as sent


class Pacer:
    """Holds records back to `speed` x real time by their timestamps; speed 0 means as fast as possible."""

    def __init__(self, speed: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._speed = speed
        self._clock = clock
        self._origin: tuple[int, float] | None = None

    def delay(self, timestamp_ms: int) -> float:
        if self._speed <= 0:
            return 0.0
        if self._origin is None:
            self._origin = (timestamp_ms, self._clock())
            return 0.0
        due = self._origin[1] + (timestamp_ms - self._origin[0]) / 1000 / self._speed
        return max(0.0, due - self._clock())


async def _wait(stop: asyncio.Event, delay: float) -> None:
    if delay <= 0:
        return
    try:
        async with asyncio.timeout(delay):
            await stop.wait()
    except TimeoutError:
        return


@dataclass
class Run:
    """What `execute` needs besides the records: where outputs go and how progress is shown."""

    output: Output
    output_topic: str | None  # None: the canonical topic of each record
    dedupe: Dedupe | None
    app_id: str
    speed: float = 0.0
    on_progress: Callable[[int], None] = lambda _n: None
    wants: Callable[[int, bytes | None], bool] = lambda _ts, _key: True  # `Selection.wants`
    # Only the canonical records (not the operators' resolution reviews): a replay into one topic, a diff.
    canonical_only: bool = False


async def execute(replayer: Replayer, records: AsyncIterator[RawRecord], run: Run, report: Report, *,
                  position: Position, stop: asyncio.Event) -> None:
    """Replay `records` into `run.output` until done or `stop` is set; keep `position` current."""
    pacer = Pacer(run.speed)
    app = run.app_id.encode()
    async for record in records:
        if stop.is_set():
            report.stopped = True
            break
        if not run.wants(record.timestamp, record.key):
            report.filtered += 1
            position.next[(record.topic, record.partition)] = record.offset + 1
            run.on_progress(1)
            continue
        await _wait(stop, pacer.delay(record.timestamp))
        if stop.is_set():
            report.stopped = True
            break
        outcome = replayer.process(record)
        report.read += 1
        if outcome.dead_letter is not None:
            report.dead_letters += 1
            report.dead_reasons[orjson.loads(outcome.dead_letter.value).get("error", "?")[:120]] += 1
        for out in outcome.outputs:
            if (run.output_topic or run.canonical_only) and out.topic not in topics.CANONICAL_TOPICS:
                continue
            topic = run.output_topic or out.topic
            report.produced[topic] += 1
            if run.dedupe is not None and not run.dedupe.admit(topic, out):
                report.already_present += 1
                continue
            numbered = replayer.renumber(topic, out)
            stamped = OutRecord(topic, numbered.key, numbered.value,
                                [*numbered.headers, (h.APP, app), (h.PUBLISHED_TS, h.ms(h.now_ms()))])
            await run.output.send(topic, stamped)
            report.published[topic] += 1
            if len(report.published_examples) < 5:
                report.published_examples.append(stamped.value)
        position.next[(record.topic, record.partition)] = record.offset + 1
        run.on_progress(1)
    await run.output.flush()


def output_topics(output: str | None) -> list[str]:
    """Where a replay publishes: its idempotence index reads these (the review topic too, so a replay
    does not repeat the resolution reviews the live stream already published)."""
    return [output] if output else [*topics.CANONICAL_TOPICS, topics.UNMATCHED]


async def existing_index(settings: Settings, names: list[str], since_ms: int) -> Dedupe:
    """Count what the output topics already hold from `since_ms` on (the idempotence index)."""

    dedupe = Dedupe()
    consumer = make_consumer(settings)
    await consumer.start()
    try:
        async for m in read_published(consumer, names, since_ms):
            dedupe.add_existing(m.topic if len(names) > 1 else names[0], m.key, m.value)
    finally:
        await consumer.stop()
    return dedupe


def resume_state(path: Path | None, selection: Selection, plan: Plan, output: str | None) -> Position:
    """The position to continue from (a fresh one if there is no file), checked against this replay."""
    found = load_position(path)
    if found is None:
        return Position(selection.describe(), plan.source, output)
    found.check(selection, output)
    if found.source != plan.source:
        raise SelectionError(f"the position was written reading {found.source}, this replay reads {plan.source}: "
                          f"pass --source {found.source}")
    return found


def restore(replayer: Replayer, dedupe: Dedupe | None, position: Position) -> None:
    replayer.restore(position.state)
    if dedupe is not None:
        dedupe.emitted.update(position.state.get("emitted", {}))


def snapshot(replayer: Replayer, dedupe: Dedupe | None, position: Position) -> None:
    position.state = {**replayer.state(), "emitted": dict(dedupe.emitted) if dedupe else {}}


def resumed_partitions(position: Position) -> dict[TP, int]:
    return dict(position.next)
