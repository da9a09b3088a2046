"""Stage 1: raw provider records -> normalized candidates (or a dead letter that says why not).

Candidates go to the resolve topic keyed by fixture; stage 2 (`agents/stages/process.py`) resolves,
dedupes, orders and publishes them.

`process_raw` is a pure function of one Kafka record; the Faust agent in `agents/worker.py`
only moves bytes. Nothing raised while handling one record escapes: Faust acks a record in a
`finally:` even when the agent body fails, so a record must be fully handled (published or
dead-lettered) before the loop moves on.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError

from agents.stages.resolve import route_keys_of
from schemas import headers as h
from schemas import topics
from schemas.canonical import CanonicalRecord
from schemas.envelope import RawEnvelope
from schemas.errors import NormalizationError
from schemas.providers import normalize
from schemas.timeutil import iso_z, utc_now


@dataclass(frozen=True, slots=True)
class OutRecord:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass(slots=True)
class Processed:
    records: list[OutRecord] = field(default_factory=list)
    dead_letter: OutRecord | None = None


def dead_letter(
    *, provider: str, feed: str, error: str, path: str, payload: Any, source_topic: str,
    partition: int, offset: int, record_headers: list[tuple[str, bytes]] | None = None,
) -> OutRecord:
    body = {
        "provider": provider, "feed": feed, "error": error, "path": path, "payload": payload,
        "sourceTopic": source_topic, "sourcePartition": partition, "sourceOffset": offset,
        "failedAt": iso_z(utc_now()),
    }
    return OutRecord(
        topics.DEADLETTER, f"{source_topic}:{partition}:{offset}".encode(),
        orjson.dumps(body, default=str), list(record_headers or []),
    )


RESOLVE = "resolve"  # placeholder topic name: the app publishes candidates to its own resolve topic
_TYPE_ORDER = {"event": 0, "race_result": 1, "odds": 2, "settlement": 3, "feed_status": 4}


def candidates_out(
    records: list[CanonicalRecord], envelope: RawEnvelope, carried: list[tuple[str, bytes]]
) -> list[OutRecord]:
    """Group a raw record's canonical records by fixture (route key): one resolve message each.

    Events come first in a message so the fixture exists before its odds are resolved, the earlier
    start first: the same teams twice in a day share a route, and a provider's later meeting resolved
    first could join the other providers' earlier one (its own earlier one not yet holding its id). The
    message is assembled from each record's JSON (pydantic's Rust serializer) without a dict; the
    serializer is called directly, as `model_dump_json` costs twice as much in Python around it.
    """
    by_route: dict[str, list[bytes]] = {}
    ordered = sorted(records, key=_resolve_order) if len(records) > 1 else records
    for record, route in zip(ordered, route_keys_of(ordered), strict=True):
        by_route.setdefault(route, []).append(type(record).__pydantic_serializer__.to_json(record, by_alias=True))
    headers = [*carried, (h.NORMALIZED_TS, h.ms(h.now_ms()))]
    head = b'{"source":"%s/%s","receivedMs":%d,"records":[' % (
        envelope.provider.encode(), envelope.feed.encode(), envelope.received_at_ms)
    return [
        OutRecord(RESOLVE, route.encode(), head + b",".join(jsons) + b"]}", headers)
        for route, jsons in by_route.items()
    ]


def _resolve_order(record: CanonicalRecord) -> tuple[int, float]:
    start = getattr(record, "start_time", None)
    return _TYPE_ORDER[record.type], start.timestamp() if start is not None else 0.0


def parse_envelope(value: bytes) -> RawEnvelope:
    return RawEnvelope.from_json(value)


_CARRIED = frozenset({h.RECEIVED_TS, h.RECORD_ID, h.PROVIDER})  # the raw record's headers its candidates keep


def process_raw(
    topic: str, partition: int, offset: int, value: bytes | None, record_headers: list[tuple[str, bytes]]
) -> Processed:
    """Normalize one raw record. Never raises: every failure becomes a dead letter."""
    carried = [(k, v) for k, v in record_headers if k in _CARRIED]
    try:
        envelope = parse_envelope(value or b"")
    except (ValidationError, orjson.JSONDecodeError, ValueError) as exc:
        provider = topic.removeprefix(topics.RAW_PREFIX)
        return Processed(dead_letter=dead_letter(
            provider=provider, feed="?", error=f"malformed envelope: {_first_line(exc)}", path="$",
            payload=(value or b"").decode("utf-8", "replace"), source_topic=topic, partition=partition,
            offset=offset, record_headers=carried,
        ))
    try:
        canonical = normalize(envelope.provider, envelope.feed, envelope.payload, envelope.normalizer_params())
    except NormalizationError as exc:
        return Processed(dead_letter=dead_letter(
            provider=exc.provider, feed=exc.feed, error=exc.reason, path=exc.path, payload=envelope.payload,
            source_topic=topic, partition=partition, offset=offset, record_headers=carried,
        ))
    except Exception as exc:  # noqa: BLE001 - last line of defence: a bug must not lose the record
        return Processed(dead_letter=dead_letter(
            provider=envelope.provider, feed=envelope.feed,
            error=f"internal error: {''.join(traceback.format_exception_only(exc)).strip()}", path="$",
            payload=envelope.payload, source_topic=topic, partition=partition, offset=offset,
            record_headers=carried,
        ))
    if not any(k == h.RECEIVED_TS for k, _ in carried):
        carried.append((h.RECEIVED_TS, h.ms(envelope.received_at_ms)))
    return Processed(records=candidates_out(canonical, envelope, carried))


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
