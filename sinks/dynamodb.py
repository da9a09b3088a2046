"""Canonical topics -> the single DynamoDB table (design: docs/delivery.md).

Two layers, as in a sans-I/O design:
- `record_items` is pure: one canonical record in, its current-state item and history item out.
- `DynamoSink` moves batches: history items through BatchWriteItem, state items through
  conditional PutItem so an older version never overwrites a newer one; it returns offsets to
  commit only when every write of the batch succeeded (`sinks/base.run_sink` commits them).

Keys (`pk` / `sk`):
    EVENT#<id>                         STATE                   current event (gsi1: SPORT#<sport>#<date>,
                                                               gsi2: DAY#<date>; both sorted by gsi1sk)
    EVENT#<id>                         V#<epoch>#<seq>         one event version (expiresAt)
    RACE#<id>                          STATE / V#<epoch>#<seq> same for race results
    ODDS#<eventId>                     ODDS#<bookmaker>#<market>   current prices of one market
    ODDS#<eventId>#<bookmaker>#<market>  V#<epoch>#<seq>       one odds version (expiresAt)
    SETTLEMENT#<eventId>               S#<entity key>          current result or void of one market line
    SETTLEMENT#<entity key>            V#<epoch>#<seq>         one settlement version (expiresAt)

A version `(epoch, seq)` names one content forever (schemas/canonical.py), so a history row is
never overwritten by different content. The current-state item holds the newest version: within
an epoch the higher seq; across epochs (a new lineage, a backfill) the later record time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from agents.stages.normalize import OutRecord, dead_letter
from runtime.aws import TABLE_TTL_ATTRIBUTE, boto_client, translate_boto_error
from runtime.backoff import Backoff
from runtime.kafka import client_options
from runtime.settings import Settings
from schemas import topics
from schemas.canonical import RECORD_TYPES, CanonicalRecord, Event, Odds, RaceResult, Settlement
from schemas.errors import SinkWriteError
from schemas.timeutil import iso_z, utc_now
from sinks.base import TP, Record, retrying, run_sink

log = logging.getLogger(__name__)

TOPICS = (topics.EVENTS, topics.ODDS, topics.RACE_RESULTS, topics.SETTLEMENTS)
STATE_SK = "STATE"
SETTLEMENT_SK_PREFIX = "S#"
SEQ_DIGITS = 12
# Newer wins. Same epoch: by seq, equal seq (records not yet sequenced carry epoch 0, seq 0) by record
# time. Another epoch (items written before epochs existed have none): by record time, then epoch.
NEWER_CONDITION = (
    "attribute_not_exists(pk)"
    " OR (#epoch = :epoch AND (#seq < :seq OR (#seq = :seq AND #ts < :ts)))"
    " OR ((attribute_not_exists(#epoch) OR #epoch <> :epoch) AND (#ts < :ts OR (#ts = :ts AND #epoch < :epoch)))"
    " OR (attribute_not_exists(#epoch) AND #ts = :ts)"
)
Item = dict[str, dict[str, Any]]  # low-level AttributeValue form: {"pk": {"S": "EVENT#1"}, ...}


# ---------------------------------------------------------------------------------------------
# Pure: record -> items


def event_pk(event_id: str) -> str:
    return f"EVENT#{event_id}"


def race_pk(race_id: str) -> str:
    return f"RACE#{race_id}"


def odds_pk(event_id: str) -> str:
    return f"ODDS#{event_id}"


def settlement_pk(event_id: str) -> str:
    return f"SETTLEMENT#{event_id}"


def version_sk(epoch: int, seq: int, ts_ms: int) -> str:
    """`V#<epoch>#<seq>`; unsequenced records (seq 0) add their time so versions do not collide."""
    if seq > 0:
        return f"V#{epoch:013d}#{seq:0{SEQ_DIGITS}d}"
    return f"V#{epoch:013d}#{0:0{SEQ_DIGITS}d}#{ts_ms:013d}"


def is_newer(new: tuple[int, int, int], old: tuple[int, int, int]) -> bool:
    """`NEWER_CONDITION` on (epoch, seq, ts) triples, for choosing among a batch's writes."""
    (epoch, seq, ts), (old_epoch, old_seq, old_ts) = new, old
    if epoch == old_epoch:
        return (seq, ts) > (old_seq, old_ts)
    return (ts, epoch) > (old_ts, old_epoch)


def sport_day_key(sport: str, start_iso: str) -> str:
    return f"SPORT#{sport}#{start_iso[:10]}"


def day_key(start_iso: str) -> str:
    """gsi2's partition: every sport's events starting that day (GET /events without a sport)."""
    return f"DAY#{start_iso[:10]}"


@dataclass(frozen=True, slots=True)
class Items:
    state: Item
    history: Item

    @property
    def state_key(self) -> tuple[str, str]:
        return self.state["pk"]["S"], self.state["sk"]["S"]

    @property
    def version(self) -> tuple[int, int, int]:
        """(epoch, seq, record time in ms)."""
        return int(self.state["epoch"]["N"]), int(self.state["seq"]["N"]), int(self.state["ts"]["N"])


def _s(value: str) -> dict[str, Any]:
    return {"S": value}


def _n(value: int) -> dict[str, Any]:
    return {"N": str(value)}


def parse_tolerant(value: bytes) -> tuple[CanonicalRecord, dict[str, Any]]:
    """The record and its full wire form. Fields this version does not know are kept in the wire form
    (stored as is) but ignored for the keys, so a newer producer adding a field does not stop the sink."""
    wire = orjson.loads(value)
    if not isinstance(wire, dict):
        raise TypeError(f"expected a JSON object, got {type(wire).__name__}")
    model = RECORD_TYPES[wire["type"]]
    known = {field.alias or name for name, field in model.model_fields.items()}
    return model.model_validate({k: v for k, v in wire.items() if k in known}), wire


def record_items(
    record: CanonicalRecord, *, now_s: int, ttl_days: int, wire: dict[str, Any] | None = None
) -> Items:
    """The current-state item and the history item of one record (stored as `wire` if given). Pure."""
    wire = wire if wire is not None else record.to_wire()
    ts_ms = int(record.timestamp.timestamp() * 1000)
    common: Item = {
        "type": _s(record.type), "entityKey": _s(record.entity_key), "epoch": _n(record.epoch), "seq": _n(record.seq),
        "ts": _n(ts_ms),
        "provider": _s(record.provider), "record": _s(orjson.dumps(wire).decode()),
        "updatedAt": _s(iso_z(utc_now())),
    }
    extra: Item
    if isinstance(record, Event | RaceResult):
        pk = event_pk(record.id) if isinstance(record, Event) else race_pk(record.id)
        start = wire["startTime"]
        state_sk, history_pk = STATE_SK, pk
        extra = {
            "gsi1pk": _s(sport_day_key(wire["sport"], start)), "gsi1sk": _s(f"{start}#{record.id}"),
            "gsi2pk": _s(day_key(start)),
            "sport": _s(wire["sport"]), "status": _s(wire["status"]), "startTime": _s(start),
            "league": _s(record.league if isinstance(record, Event) else record.series),
        }
    elif isinstance(record, Odds):
        pk = odds_pk(record.event_id)
        state_sk = f"ODDS#{record.bookmaker}#{record.market}"
        # One partition per market's history keeps hot events' item collections small.
        history_pk = f"{pk}#{record.bookmaker}#{record.market}"
        extra = {"eventId": _s(record.event_id), "bookmaker": _s(record.bookmaker), "market": _s(record.market)}
    elif isinstance(record, Settlement):
        # An event's results and voids are one Query; each market line's versions its own partition.
        pk, state_sk = settlement_pk(record.event_id), f"{SETTLEMENT_SK_PREFIX}{record.entity_key}"
        history_pk = f"SETTLEMENT#{record.entity_key}"
        extra = {"eventId": _s(record.event_id), "bookmaker": _s(record.bookmaker), "market": _s(record.market),
                 "kind": _s(record.kind)}
    else:
        raise TypeError(f"no DynamoDB items for {record.type} records")
    state = {"pk": _s(pk), "sk": _s(state_sk), **common, **extra}
    history = {
        "pk": _s(history_pk), "sk": _s(version_sk(record.epoch, record.seq, ts_ms)), **common,
        TABLE_TTL_ATTRIBUTE: _n(now_s + ttl_days * 86400),
    }
    return Items(state, history)


def newest_per_key(items: Sequence[Items]) -> list[Items]:
    """One state write per key per batch: the newest version (what the condition would keep anyway)."""
    best: dict[tuple[str, str], Items] = {}
    for it in items:
        current = best.get(it.state_key)
        if current is None or is_newer(it.version, current.version):
            best[it.state_key] = it
    return list(best.values())


# ---------------------------------------------------------------------------------------------
# I/O: the table seam


class Table(Protocol):
    async def put_if_newer(self, item: Item) -> bool:
        """Write unless a version at least as new is stored; False means it was stale (not an error)."""

    async def put_batch(self, items: Sequence[Item]) -> None:
        """Write up to 25 items unconditionally (history items are immutable, so rewriting is idempotent)."""


class DynamoTable:
    """`Table` over a boto3 DynamoDB client; each call runs in a thread and is retried per policy."""

    def __init__(self, client: Any, name: str, *, attempts: int = 6, backoff: Backoff | None = None) -> None:
        self._client = client
        self._name = name
        self._attempts = attempts
        self._backoff = backoff or Backoff(0.05, 5.0)

    async def put_if_newer(self, item: Item) -> bool:
        return await retrying(lambda: asyncio.to_thread(self._put_if_newer, item),
                              attempts=self._attempts, backoff=self._backoff)

    def _put_if_newer(self, item: Item) -> bool:
        try:
            self._client.put_item(
                TableName=self._name, Item=item, ConditionExpression=NEWER_CONDITION,
                ExpressionAttributeNames={"#epoch": "epoch", "#seq": "seq", "#ts": "ts"},
                ExpressionAttributeValues={":epoch": item["epoch"], ":seq": item["seq"], ":ts": item["ts"]},
            )
        except Exception as exc:
            error = translate_boto_error("dynamodb", "PutItem", exc)
            if error.code == "ConditionalCheckFailedException":
                return False  # a newer (or this very) version is stored: success by idempotence
            raise error from exc
        return True

    async def put_batch(self, items: Sequence[Item]) -> None:
        pending: list[dict[str, Any]] = [{"PutRequest": {"Item": it}} for it in items]
        for attempt in range(self._attempts):
            pending = await retrying(lambda p=pending: asyncio.to_thread(self._batch, p),  # type: ignore[misc]
                                     attempts=self._attempts, backoff=self._backoff)
            if not pending:
                return
            await asyncio.sleep(self._backoff.delay(attempt))  # unprocessed items mean throttling
        raise SinkWriteError("dynamodb", "BatchWriteItem", "UnprocessedItems",
                             f"{len(pending)} items still unprocessed", retriable=True)

    def _batch(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        try:
            response = self._client.batch_write_item(RequestItems={self._name: requests})
        except Exception as exc:
            raise translate_boto_error("dynamodb", "BatchWriteItem", exc) from exc
        return list(response.get("UnprocessedItems", {}).get(self._name, []))


# ---------------------------------------------------------------------------------------------
# The sink


class DeadLetters(Protocol):
    async def send(self, records: Sequence[OutRecord]) -> None: ...


class DynamoSink:
    """Writes each batch completely (or raises) before its offsets are returned for commit."""

    def __init__(self, table: Table, dead_letters: DeadLetters, *, ttl_days: int, concurrency: int = 8) -> None:
        self._table = table
        self._dead_letters = dead_letters
        self._ttl_days = ttl_days
        self._limit = asyncio.Semaphore(concurrency)
        self.stale_writes = 0  # conditional writes refused because a newer version was stored

    async def write(self, records: Sequence[Record]) -> Mapping[TP, int]:
        now_s = int(utc_now().timestamp())
        items: list[tuple[Record, Items]] = []
        letters: list[OutRecord] = []
        for r in records:
            try:
                record, wire = parse_tolerant(r.value or b"")
                items.append((r, record_items(record, now_s=now_s, ttl_days=self._ttl_days, wire=wire)))
            except (ValidationError, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                letters.append(_letter(r, f"not a storable canonical record: {type(exc).__name__}: {exc}"))
        for start in range(0, len(items), 25):
            # BatchWriteItem refuses two requests for one key, so duplicates collapse (same version, same item).
            chunk = {(i.history["pk"]["S"], i.history["sk"]["S"]): (r, i) for r, i in items[start:start + 25]}
            letters.extend(await self._put_history(list(chunk.values())))
        newest = newest_per_key([i for _, i in items])
        source = {id(i): r for r, i in items}
        results = await asyncio.gather(*(self._put_state(source[id(i)], i) for i in newest))
        self.stale_writes += sum(1 for written, _ in results if not written)
        letters.extend(letter for _, letter in results if letter is not None)
        if letters:
            await self._dead_letters.send(letters)
        offsets: dict[TP, int] = {}
        for r in records:
            offsets[(r.topic, r.partition)] = max(offsets.get((r.topic, r.partition), 0), r.offset + 1)
        return offsets

    async def _put_history(self, chunk: list[tuple[Record, Items]]) -> list[OutRecord]:
        try:
            await self._table.put_batch([i.history for _, i in chunk])
        except SinkWriteError as exc:
            if exc.retriable:
                raise
            if len(chunk) == 1:  # this very item cannot be stored (too large, invalid): dead-letter it
                return [_letter(chunk[0][0], str(exc))]
            # One bad item fails the whole request: retry one by one to find it.
            return [letter for one in chunk for letter in await self._put_history([one])]
        return []

    async def _put_state(self, r: Record, items: Items) -> tuple[bool, OutRecord | None]:
        async with self._limit:
            try:
                return await self._table.put_if_newer(items.state), None
            except SinkWriteError as exc:
                if exc.retriable:
                    raise
                return False, _letter(r, str(exc))

    def discard(self, partitions: Sequence[TP]) -> None:
        return None  # nothing is buffered between batches

    async def close(self) -> Mapping[TP, int]:
        return {}


def _letter(r: Record, error: str) -> OutRecord:
    payload = (r.value or b"").decode("utf-8", "replace")
    return dead_letter(provider="?", feed="?", error=error, path="$", payload=payload, source_topic=r.topic,
                       partition=r.partition, offset=r.offset)


class KafkaDeadLetters:
    """Dead letters to the `deadletter` topic; `send` returns once the broker has them."""

    def __init__(self, producer: Any) -> None:
        self._producer = producer

    async def send(self, records: Sequence[OutRecord]) -> None:

        try:
            futures = [
                await self._producer.send(r.topic, key=r.key, value=r.value, headers=r.headers) for r in records
            ]
            await asyncio.gather(*futures)
        except KafkaError as exc:
            raise SinkWriteError("kafka", "send", type(exc).__name__, str(exc), retriable=True) from exc


async def run_dynamodb_sink(
    settings: Settings, stop: asyncio.Event, *, table: Table | None = None, ready: asyncio.Event | None = None,
    auto_offset_reset: str | None = None,
) -> None:
    """Consume the canonical topics in group `<app_id>-dynamodb` into the table until `stop` is set."""


    cfg = settings.dynamodb_sink
    backoff = Backoff(cfg.backoff_initial_s, cfg.backoff_max_s)
    if table is None:
        client = await asyncio.to_thread(boto_client, settings, "dynamodb")
        table = DynamoTable(client, settings.aws.dynamodb_table, attempts=cfg.max_attempts, backoff=backoff)
    producer = AIOKafkaProducer(**client_options(settings), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sink = DynamoSink(table, KafkaDeadLetters(producer), ttl_days=settings.aws.ttl_days,
                          concurrency=cfg.write_concurrency)
        await run_sink(settings, sink, TOPICS, f"{settings.processing.app_id}-dynamodb", stop,
                       auto_offset_reset=auto_offset_reset or cfg.auto_offset_reset,
                       max_records=cfg.max_batch_records, backoff=backoff, ready=ready)
    finally:
        await producer.stop()
