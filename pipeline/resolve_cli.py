"""`sportsflow resolve`: canonical records (JSON lines, providers mixed) -> canonical ids, offline.

Runs the worker's own resolution (`agents.process.resolve_record`: route, match, canonical names,
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

from agents import discrepancy, registry
from agents.canonicalize import with_game_clock
from agents.names import set_pins, set_reference
from agents.pins import PinsError, load_pins
from agents.process import DEFAULT_GRACE_MS, resolve_record
from agents.resolve import Fixture, route_key
from schemas.canonical import parse_record
from schemas.timeutil import parse_iso

# As in one raw message (agents.normalize.candidates_out): a fixture's events before its odds.
_TYPE_ORDER = {"event": 0, "race_result": 1, "odds": 2, "feed_status": 3}


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


def _references(paths: list[Path]) -> tuple[dict[str, dict[str, str]], list[registry.ReferenceTeam]]:
    """Reference files: provider team lists (`{"provider", "sport", "payload"}`, or a list of them) feed the
    team registry; any other JSON object is a pins file (`{sport: {spelling: team name}}`)."""
    pin_files: list[Path] = []
    teams: list[registry.ReferenceTeam] = []
    for path in paths:
        try:
            data = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise PinsError(f"{path}: {exc}") from None
        items = data if isinstance(data, list) else [data]
        if items and all(isinstance(i, dict) and "provider" in i and "payload" in i for i in items):
            for item in items:
                teams += registry.parse_reference(item["provider"], item["sport"], item["payload"])
        else:
            pin_files.append(path)
    return load_pins(pin_files), teams


def run_resolve(files: list[IO[bytes]], references: list[Path], tolerance_s: float, out: IO[bytes], *,
                grace_ms: int = DEFAULT_GRACE_MS) -> int:
    try:
        pins, teams = _references(references)
        set_pins(pins)
        set_reference(registry.spellings(registry.build(teams)))
    except (PinsError, ValueError, KeyError, TypeError, AttributeError) as exc:
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
