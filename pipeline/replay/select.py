"""What a replay reads: selections (topics + time range or explicit offsets) and resume positions.

Pure: parsing and validation only; `pipeline/replay/source.py` turns a selection into offsets.

Errors (they extend the tree in `schemas/errors.py`):

    SportsflowError
    └── ReplayError               a replay could not run (Kafka or S3 failed): CLI exit 1
        └── SelectionError        the selection is wrong (unknown topic, empty range, end before
                                  start, missing archive objects, a position of another selection): exit 2

Both are raised before anything is published whenever the fault can be known in advance, so a bad
selection never becomes a partial, silent run.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from schemas import topics
from schemas.errors import SportsflowError
from schemas.timeutil import iso_z

TP = tuple[str, int]
POSITION_VERSION = 1


class ReplayError(SportsflowError):
    """A replay could not run as asked."""

    exit_code = 1


class SelectionError(ReplayError):
    """The selection itself is wrong; nothing was read or published."""

    exit_code = 2


@dataclass(frozen=True)
class Selection:
    """Raw topics and either a time range `[start, end)` (Kafka record timestamps) or offsets `[first, end)`."""

    topics: tuple[str, ...]
    start: datetime | None = None
    end: datetime | None = None
    offsets: tuple[tuple[str, int, int, int], ...] = ()  # (topic, partition, first, end exclusive)
    keys: tuple[str, ...] = ()  # glob patterns of raw record keys (provider entity ids); empty: all

    def wants(self, timestamp: int, key: bytes | None) -> bool:
        """Whether a record read from the planned offsets belongs to the selection.

        Offsets from `offsets_for_times` assume timestamps grow with offsets; a record out of order
        (a producer-set timestamp) may sit inside the planned offsets but outside the range.
        """
        if self.by_time and not self.start_ms <= timestamp < self.end_ms:
            return False
        if self.keys:
            text = key.decode("utf-8", "replace") if key is not None else ""
            return any(fnmatch.fnmatchcase(text, pattern) for pattern in self.keys)
        return True

    @property
    def by_time(self) -> bool:
        return self.start is not None

    @property
    def start_ms(self) -> int:
        return _ms(self.start) if self.start else 0

    @property
    def end_ms(self) -> int:
        return _ms(self.end) if self.end else 0

    def offset_ranges(self) -> dict[TP, tuple[int, int]]:
        return {(t, p): (first, end) for t, p, first, end in self.offsets}

    def describe(self) -> dict[str, Any]:
        """A JSON-able fingerprint: a resume position only continues the selection it was written for."""
        return {
            "topics": list(self.topics),
            "from": iso_z(self.start) if self.start else None,
            "to": iso_z(self.end) if self.end else None,
            "offsets": [f"{t}:{p}:{a}-{b}" for t, p, a, b in self.offsets],
            "keys": list(self.keys),
        }

    def __str__(self) -> str:
        if self.by_time:
            return f"{', '.join(self.topics)} from {iso_z(self.start)} to {iso_z(self.end)}"  # type: ignore[arg-type]
        return ", ".join(f"{t}:{p}:{a}-{b}" for t, p, a, b in self.offsets)


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def parse_time(text: str, option: str) -> datetime:
    """RFC 3339 (`2026-11-28T00:00:00Z`) or a date (`2026-11-28`, midnight UTC); no zone means UTC."""
    try:
        value = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise SelectionError(f"{option} {text!r} is not a time: use RFC 3339, e.g. 2026-11-28T00:00:00Z") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_OFFSETS = re.compile(r"^(?P<topic>[A-Za-z0-9._-]+):(?P<partition>\d+):(?P<first>\d+)-(?P<end>\d+)$")


def parse_offsets(spec: str) -> tuple[str, int, int, int]:
    """`raw.theoddsapi:0:100-200` -> ("raw.theoddsapi", 0, 100, 200): offsets 100 to 199 of partition 0."""
    match = _OFFSETS.match(spec.strip())
    if match is None:
        raise SelectionError(f"--offsets {spec!r}: expected TOPIC:PARTITION:FIRST-END, e.g. raw.theoddsapi:0:100-200")
    first, end = int(match["first"]), int(match["end"])
    if end <= first:
        raise SelectionError(f"--offsets {spec!r}: empty range (END is exclusive and must be above FIRST)")
    return match["topic"], int(match["partition"]), first, end


def _check_topic(topic: str, known: Sequence[str]) -> str:
    if not topic.startswith(topics.RAW_PREFIX) or topic.removeprefix(topics.RAW_PREFIX) not in known:
        names = ", ".join(topics.raw_topic(p) for p in known)
        raise SelectionError(f"unknown topic {topic!r}: a replay reads raw topics ({names})")
    return topic


def build_selection(
    *, providers: Iterable[str] = (), topic_names: Iterable[str] = (), start: str | None = None,
    end: str | None = None, offsets: Iterable[str] = (), keys: Iterable[str] = (),
    known_providers: Sequence[str], now: datetime | None = None,
) -> Selection:
    """Validate the command line's selection. `--to` defaults to now; no topics means every raw topic."""
    chosen: list[str] = []
    for provider in providers:
        if provider not in known_providers:
            raise SelectionError(f"unknown provider {provider!r}: known are {', '.join(known_providers)}")
        chosen.append(topics.raw_topic(provider))
    chosen.extend(_check_topic(t, known_providers) for t in topic_names)
    specs = [parse_offsets(s) for spec in offsets for s in spec.split(",") if s.strip()]
    if specs:
        if start is not None or end is not None:
            raise SelectionError("choose either a time range (--from/--to) or --offsets, not both")
        for topic, *_ in specs:
            _check_topic(topic, known_providers)
        if chosen and {t for t, *_ in specs} - set(chosen):
            raise SelectionError("--offsets names a topic outside --topic/--provider")
        seen: set[TP] = set()
        for topic, partition, *_ in specs:
            if (topic, partition) in seen:
                raise SelectionError(f"--offsets gives {topic}:{partition} twice")
            seen.add((topic, partition))
        return Selection(tuple(dict.fromkeys(t for t, *_ in specs)), offsets=tuple(specs), keys=tuple(keys))
    if start is None:
        raise SelectionError("choose what to replay: a time range (--from, --to) or --offsets TOPIC:P:FIRST-END")
    first = parse_time(start, "--from")
    last = parse_time(end, "--to") if end is not None else (now or datetime.now(UTC))
    if last < first:
        raise SelectionError(f"end before start: --to {iso_z(last)} is before --from {iso_z(first)}")
    if last == first:
        raise SelectionError(f"empty range: --from and --to are both {iso_z(first)}")
    every = [topics.raw_topic(p) for p in known_providers]
    return Selection(tuple(dict.fromkeys(chosen or every)), first, last, keys=tuple(keys))


def check_source(selection: Selection, source: str) -> None:
    """Refuse a source that cannot serve the selection, before anything is contacted."""
    if source == "s3" and not selection.by_time:
        raise SelectionError("--offsets reads Kafka only (the archive is selected by time): use --source kafka")


# ---------------------------------------------------------------------------------------------
# Resume positions


@dataclass
class Position:
    """Where a replay stopped: the next offset per raw topic-partition, and its in-memory state.

    Archived records keep their Kafka offsets, so one format serves both sources (and is immune to
    the archive's overlapping objects). The state (fixtures, entity versions, publish counters)
    makes a resumed replay publish exactly what an uninterrupted one would have.
    """

    selection: dict[str, Any]
    source: str
    output: str | None
    next: dict[TP, int] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    complete: bool = False

    def done(self, tp: TP, offset: int) -> bool:
        """True if the record at `offset` was already replayed before the interruption."""
        return offset < self.next.get(tp, 0)

    def to_json(self) -> bytes:
        return orjson.dumps({
            "version": POSITION_VERSION, "selection": self.selection, "source": self.source,
            "output": self.output, "complete": self.complete,
            "next": {f"{t}:{p}": o for (t, p), o in sorted(self.next.items())}, "state": self.state,
        }, option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, data: bytes) -> Position:
        body = orjson.loads(data)
        if not isinstance(body, dict) or body.get("version") != POSITION_VERSION:
            raise SelectionError("not a replay position file (or one of another version)")
        nxt = {(k.rsplit(":", 1)[0], int(k.rsplit(":", 1)[1])): int(v) for k, v in body["next"].items()}
        return cls(body["selection"], body["source"], body.get("output"), nxt, body.get("state") or {},
                   bool(body.get("complete")))

    def save(self, path: Path) -> None:
        """Write atomically (temp file + rename): Ctrl-C twice never leaves half a position."""
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(self.to_json())
        os.replace(tmp, path)

    def check(self, selection: Selection, output: str | None) -> None:
        if self.selection != selection.describe() or self.output != output:
            raise SelectionError(
                f"the position file is for another replay ({self.selection}, output {self.output}); "
                "give the same selection and --output, or another --resume file")


def load_position(path: Path | None) -> Position | None:
    if path is None or not path.exists():
        return None
    try:
        return Position.from_json(path.read_bytes())
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise SelectionError(f"cannot read position file {path}: {exc}") from exc


def position_keys(mapping: Mapping[TP, int]) -> list[str]:
    return [f"{t}:{p}@{o}" for (t, p), o in sorted(mapping.items())]
