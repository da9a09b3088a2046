"""Stage 2: resolve entities, then dedupe, order and version each record (`agents/stages/ordering.py`).

`process_candidates` is a pure function of one resolve-topic message and the state it reads;
the Faust agent in `agents/worker.py` loads that state from changelog-backed tables, calls it,
stores the new state and publishes the outputs.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import orjson

from agents.stages import discrepancy
from agents.stages.canonicalize import canonicalize, review_out, with_game_clock
from agents.stages.normalize import OutRecord
from agents.stages.ordering import Decision, Policy, decide
from agents.stages.resolve import Candidate, Fixture, Resolution, resolve, resolve_known
from schemas import headers as h
from schemas import topics
from schemas.canonical import settlement_key
from schemas.timeutil import iso_ms

DEFAULT_GRACE_MS = 15_000  # processing.discrepancy_grace_s
# An event's discrepancy state lives in its entity state: one state, one changelog write per event update.
DISC = "d"


@dataclass
class StageTwoResult:
    outputs: list[OutRecord] = field(default_factory=list)
    fixtures_changed: bool = False
    entities: dict[str, dict[str, Any]] = field(default_factory=dict)
    reasons: Counter[str] = field(default_factory=Counter)


class EntityStates:
    """Decoded entity states by key, reused while the entities table still holds the bytes they came from.

    Without it every candidate pays an `orjson.loads` of its entity's state (which carries the last
    published record) although the worker wrote that state itself a moment before. `get` returns the
    cached dict when the stored bytes are the ones it was cached with, else decodes them; `put` caches
    what the worker writes. Safe because nothing changes a state dict in place: `ordering.decide` and
    `discrepancy.observe` return new dicts. Bounded; a miss only costs a decode.
    """

    def __init__(self, size: int = 8192) -> None:  # ~5 KB a decoded state: the entities in play, not the table
        self._size = size
        self._items: OrderedDict[str, tuple[bytes, dict[str, Any]]] = OrderedDict()

    def get(self, key: str, stored: bytes | None) -> dict[str, Any] | None:
        if not stored:
            return None
        hit = self._items.get(key)
        if hit is not None and (hit[0] is stored or hit[0] == stored):
            return hit[1]
        state: dict[str, Any] = orjson.loads(stored)
        self.put(key, stored, state)
        return state

    def put(self, key: str, stored: bytes, state: dict[str, Any]) -> None:
        self._items[key] = (stored, state)
        self._items.move_to_end(key)
        if len(self._items) > self._size:
            self._items.popitem(last=False)

    def forget(self, key: str) -> None:
        self._items.pop(key, None)


def entity_key(record: dict[str, Any]) -> str:
    kind = record["type"]
    if kind == "odds":
        return f"{record['eventId']}|{record['bookmaker']}|{record['market']}"
    if kind == "feed_status":
        return f"{record['provider']}|{record['feed']}"
    if kind == "settlement":
        return settlement_key(record["eventId"], record["bookmaker"], record["market"], record["specifiers"],
                              record["kind"], void_from=record.get("voidFrom"), void_to=record.get("voidTo"))
    return str(record["id"])


def _start_ms(record: dict[str, Any]) -> int | None:
    text = record.get("startTime")
    return iso_ms(text) if text else None


def candidate_of(record: dict[str, Any], received_ms: int | None = None) -> Candidate:
    return Candidate(record["provider"], record["providerEventId"], record.get("sport"), record.get("league"),
                     record.get("homeTeam"), record.get("awayTeam"), _start_ms(record), received_ms)


def resolve_record(record: dict[str, Any], route: str, fixtures: list[Fixture], tolerance_ms: int,
                   received_ms: int | None = None) -> Resolution | None:
    """Rewrite provider-scoped ids and names to canonical ones. `received_ms`: when the record was received
    (a fixture is named after the provider that reported it first)."""
    if record["type"] == "feed_status":
        return None
    resolution = resolve_known(fixtures, record["provider"], record["providerEventId"]) \
        or resolve(fixtures, route, candidate_of(record, received_ms), tolerance_ms=tolerance_ms)
    canonicalize(record, resolution)
    return resolution
def process_candidates(
    route: str, value: bytes, carried: list[tuple[str, bytes]], fixtures: list[Fixture],
    entity_state: Callable[[str], dict[str, Any] | None], *, policy: Policy, tolerance_ms: int,
    is_down: Callable[[str], bool], epoch: int | None = None, ttl_ms: int | None = None,
    discrepancy_grace_ms: int = DEFAULT_GRACE_MS,
) -> StageTwoResult:
    """`epoch`: the lineage id of entities whose lineage starts here (default: the message's receipt
    time, so processing the same message again after a crash starts the same lineage).
    `ttl_ms`: a stored state last updated longer ago than this (by receipt times) is expired, whether
    or not the expiry sweep has deleted it yet, so a new lineage starts."""
    message = orjson.loads(value)
    source: str = message["source"]
    received_ms: int = message["receivedMs"]
    result = StageTwoResult()
    for record in message["records"]:
        resolution = resolve_record(record, route, fixtures, tolerance_ms, received_ms)
        if resolution is not None:
            result.fixtures_changed |= resolution.changed
            if resolution.review is not None:
                result.outputs.append(review_out(resolution.review, carried))
        key = entity_key(record)
        state = result.entities.get(key) or entity_state(key)
        disc = None
        if record["type"] == "event":  # kept across an expired lineage, as when it had its own key
            disc = _discrepancies(record, received_ms, _disc_state(record, state, entity_state), result,
                                  carried=carried, grace_ms=discrepancy_grace_ms)
        if state is not None and ttl_ms is not None and received_ms - int(state.get("updated", 0)) > ttl_ms:
            state = None
        decision: Decision = decide(record, state, source, received_ms, policy=policy, is_down=is_down,
                                    epoch=epoch)
        if disc is not None:  # decide returns a new dict: setting a key changes no stored state
            decision.state[DISC] = disc
        result.entities[key] = decision.state
        result.reasons[decision.reason] += 1
        if decision.publish is not None:
            result.outputs.append(_output(with_game_clock(dict(decision.publish)), key, carried))
    return result


def _disc_state(record: dict[str, Any], state: dict[str, Any] | None,
                entity_state: Callable[[str], dict[str, Any] | None]) -> dict[str, Any] | None:
    """An event's discrepancy state: inside its entity state, or (written by a worker before that) under its own key."""
    if state is not None and DISC in state:
        return cast(dict[str, Any], state[DISC])
    return entity_state(discrepancy.state_key(record["id"]))


def _discrepancies(record: dict[str, Any], received_ms: int, before: dict[str, Any] | None, result: StageTwoResult,
                   *, carried: list[tuple[str, bytes]], grace_ms: int) -> dict[str, Any] | None:
    """Compare the event with the other providers' latest; the discrepancy state to keep (None: `before`)."""
    state, found = discrepancy.observe(before, record, received_ms, grace_ms=grace_ms)
    for item in found:
        result.outputs.append(OutRecord(topics.DISCREPANCIES, record["id"].encode(), orjson.dumps(item),
                                        [(k, v) for k, v in carried if k not in _RESTAMPED]))
    return state if state is not None else before


_RESTAMPED = frozenset({h.APP, h.PUBLISHED_TS})  # set again when the canonical record is published


def _output(record: dict[str, Any], key: str, carried: list[tuple[str, bytes]]) -> OutRecord:
    headers = [(k, v) for k, v in carried if k not in _RESTAMPED]
    stamp = record.get("sourceTimestamp")
    if stamp:
        headers.append((h.PROVIDER_TS, h.ms(iso_ms(stamp))))
    return OutRecord(topics.CANONICAL_BY_TYPE[record["type"]], key.encode(), orjson.dumps(record), headers)
