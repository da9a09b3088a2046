"""`sportsflow resolve`: canonical records (JSON lines, providers mixed) -> canonical ids, offline.

Runs the worker's own resolution (`agents.stages.process.resolve_record`: route, match, canonical names,
period/clock) over records as `sportsflow normalize` prints them, without Kafka. Prints each record
as the worker would pass it on to versioning (canonical id, names, orientation), and the review
records (`type: resolution_review`) the worker would publish to canonical.unmatched and the
discrepancies (`type: discrepancy`, records' timestamps standing in for receipt times).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click
import orjson
from pydantic import ValidationError

from agents.stages import discrepancy
from agents.stages.canonicalize import with_game_clock
from agents.stages.pins import PinsError, apply_references
from agents.stages.process import DEFAULT_GRACE_MS, resolve_record
from agents.stages.resolve import Fixture, route_key
from schemas.canonical import parse_record
from schemas.timeutil import parse_iso

# As in one raw message (agents.stages.normalize.candidates_out): a fixture's events before its odds.
_TYPE_ORDER = {"event": 0, "race_result": 1, "odds": 2, "settlement": 3, "feed_status": 4}


def _records(files: list[IO[bytes]], errors: list[str]) -> Iterator[dict[str, Any]]:
    for file in files:
        name = getattr(file, "name", "-")
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                record = parse_record(orjson.loads(line))
            except (orjson.JSONDecodeError, ValidationError, KeyError, TypeError) as exc:
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                errors.append(f"{name}:{number}: not a canonical record: {first}")
                continue
            yield record.to_wire()


def run_resolve(files: list[IO[bytes]], references: list[Path], tolerance_s: float, out: IO[bytes], *,
                grace_ms: int = DEFAULT_GRACE_MS) -> int:
    try:
        apply_references(references)
    except PinsError as exc:
        click.echo(f"error: --reference: {exc}", err=True)
        return 2
    errors: list[str] = []
    records = sorted(_records(files, errors), key=lambda r: _TYPE_ORDER[r["type"]])
    routes: dict[str, list[Fixture]] = {}
    disagreements: dict[str, dict[str, Any]] = {}
    tolerance_ms = int(tolerance_s * 1000)
    for record in records:
        route = route_key(record)
        resolution = resolve_record(record, route, routes.setdefault(route, []), tolerance_ms)
        out.write(orjson.dumps(with_game_clock(record)) + b"\n")
        if resolution is not None and resolution.review is not None:
            out.write(orjson.dumps(resolution.review) + b"\n")
        if record["type"] == "event":
            # The records' own timestamps stand in for receipt times.
            at = int(parse_iso(record["timestamp"]).timestamp() * 1000)
            state, found = discrepancy.observe(disagreements.get(record["id"]), record, at, grace_ms=grace_ms)
            if state is not None:
                disagreements[record["id"]] = state
            for item in found:
                out.write(orjson.dumps(item) + b"\n")
    out.flush()
    for error in errors:
        click.echo(f"error: {error}", err=True)
    fixtures = sum(len(f) for f in routes.values())
    click.echo(f"{len(records)} records, {fixtures} fixtures, {len(errors)} rejected", err=True)
    return 1 if errors else 0


def main(files: list[IO[bytes]], references: list[Path], tolerance_s: float) -> int:
    return run_resolve(files, references, tolerance_s, sys.stdout.buffer)
