"""Replay-and-diff: a regression check for normalizer changes (`sportsflow replay diff`).

The selection is replayed in memory through the current normalizers, and compared with what the
worker (`--app`, default `processing.app_id`) published for the same raw records: canonical
records whose `sf-record-id` header names a replayed raw record (records without one: whose
`sf-ts-received` falls in the replayed range). Per entity (topic + entity key) the version
sequence and the final state are compared, ignoring seq, timestamps and processing metadata
(`IGNORED`). The report lists entities added (only the replay has them), removed (only the
published stream has them) and changed (with the differing fields). Exit status 1 when anything
differs, 0 when equal.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from pipeline.replay.engine import MemoryOutput, Replayer, Report, Run, execute
from pipeline.replay.run import Request, Sources
from pipeline.replay.select import Position
from pipeline.replay.source import Plan, RawRecord, read_published
from runtime.settings import Settings
from schemas import headers as h
from schemas import topics

IGNORED = frozenset({"epoch", "seq", "provenance", "correction", "replacesSeq", "timestamp", "sourceTimestamp", "refs"})
Entity = tuple[str, str]  # (topic, entity key)


def strip(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in IGNORED}


@dataclass(frozen=True)
class EntityDiff:
    topic: str
    key: str
    kind: str  # added, removed, changed
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # field -> (published, replayed)
    versions: tuple[int, int] = (0, 0)  # (published, replayed)


@dataclass
class DiffReport:
    replay: Report
    entities: int = 0
    published_records: int = 0
    diffs: list[EntityDiff] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not self.diffs

    def count(self, kind: str) -> int:
        return sum(1 for d in self.diffs if d.kind == kind)


def _fields(old: dict[str, Any], new: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {k: (old.get(k), new.get(k)) for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}


def compare(published: dict[Entity, list[dict[str, Any]]], replayed: dict[Entity, list[dict[str, Any]]],
            ) -> list[EntityDiff]:
    """Per entity: added, removed, or changed (final state fields, else the version sequence)."""
    diffs = []
    for entity in sorted(set(published) | set(replayed)):
        old = [strip(r) for r in published.get(entity, [])]
        new = [strip(r) for r in replayed.get(entity, [])]
        counts = (len(old), len(new))
        if not old:
            diffs.append(EntityDiff(*entity, "added", _fields({}, new[-1]), counts))
        elif not new:
            diffs.append(EntityDiff(*entity, "removed", _fields(old[-1], {}), counts))
        elif old != new:
            changed = _fields(old[-1], new[-1])
            if not changed:  # same final state, different path to it
                first = next(i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b) \
                    if any(a != b for a, b in zip(old, new, strict=False)) else min(counts)
                changed = {"(versions)": (f"{counts[0]} versions",
                                          f"{counts[1]} versions, first differs at #{first + 1}")}
            diffs.append(EntityDiff(*entity, "changed", changed, counts))
    return diffs


def group(records: Iterable[tuple[str, bytes | None, bytes | None]]) -> dict[Entity, list[dict[str, Any]]]:
    grouped: dict[Entity, list[dict[str, Any]]] = {}
    for topic, key, value in records:
        if key is None or not value:
            continue
        grouped.setdefault((topic, key.decode()), []).append(orjson.loads(value))
    return grouped


class _Watch:
    """Remembers the raw records a replay read: their record ids and received-time window."""

    def __init__(self, wants: Any) -> None:
        self.wants = wants
        self.ids: set[bytes] = set()
        self.low: int | None = None
        self.high: int | None = None

    async def wrap(self, records: AsyncIterator[RawRecord]) -> AsyncIterator[RawRecord]:
        async for record in records:
            if not self.wants(record.timestamp, record.key):
                yield record  # `execute` skips it too
                continue
            found = dict(record.headers)
            if h.RECORD_ID in found:
                self.ids.add(found[h.RECORD_ID])
            received = int(found.get(h.RECEIVED_TS, b"0") or 0) or record.timestamp
            self.low = received if self.low is None else min(self.low, received)
            self.high = received if self.high is None else max(self.high, received)
            yield record

    def matches(self, headers: dict[str, bytes]) -> bool:
        if h.RECORD_ID in headers:
            return headers[h.RECORD_ID] in self.ids
        received = headers.get(h.RECEIVED_TS)
        return (received is not None and self.low is not None and self.high is not None
                and self.low <= int(received) <= self.high)


async def run_diff(settings: Settings, request: Request, app_id: str, stop: asyncio.Event,
                   on_plan: Any = lambda _p: None) -> DiffReport:
    """Replay in memory and compare with what `app_id` published for the same raw records."""
    report = DiffReport(Report())
    watch = _Watch(request.selection.wants)
    async with Sources(settings) as sources:
        found: Plan = await sources.plan(request.selection, request.source)
        report.replay.source, report.replay.selected = found.source, found.total
        on_plan(found)
        output = MemoryOutput()
        run = Run(output, None, None, f"{app_id}.diff", wants=request.selection.wants, canonical_only=True)
        position = Position(request.selection.describe(), found.source, None)
        await execute(Replayer(settings.processing), watch.wrap(sources.records(found, request.selection, None)),
                      run, report.replay, position=position, stop=stop)
        since = request.published_from or request.selection.start
        since_ms = int(since.timestamp() * 1000) if since else max(0, (watch.low or 0) - 3_600_000)
        published = []
        async for m in read_published(sources.consumer, list(topics.CANONICAL_TOPICS), since_ms):
            headers = dict(m.headers or [])
            if headers.get(h.APP) == app_id.encode() and watch.matches(headers):
                published.append((m.topic, m.key, m.value))
    report.published_records = len(published)
    replayed = group((topic, r.key, r.value) for topic, r in output.records)
    by_entity = group(published)
    report.entities = len(set(replayed) | set(by_entity))
    report.diffs = compare(by_entity, replayed)
    return report


def render(report: DiffReport, limit: int = 50) -> list[str]:
    """The human report: a summary line, then one line per differing entity and field."""
    lines = [f"diff: {report.entities} entities; {report.replay.read} raw records replayed, "
             f"{sum(report.replay.produced.values())} canonical records replayed, "
             f"{report.published_records} published; {report.count('added')} added, "
             f"{report.count('removed')} removed, {report.count('changed')} changed"]
    if report.published_records == 0 and report.replay.read:
        lines.append("  (no canonical record of this range was published by that app: is --app right?)")
    for d in report.diffs[:limit]:
        sign = {"added": "+", "removed": "-", "changed": "~"}[d.kind]
        lines.append(f"{sign} {d.kind} {d.topic} {d.key} (versions published {d.versions[0]}, "
                     f"replayed {d.versions[1]})")
        for name, (old, new) in d.fields.items():
            lines.append(f"    {name}: {_short(old)} -> {_short(new)}")
    if len(report.diffs) > limit:
        lines.append(f"... and {len(report.diffs) - limit} more entities")
    return lines


def _short(value: Any, width: int = 100) -> str:
    text = orjson.dumps(value).decode() if not isinstance(value, str) else repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."
