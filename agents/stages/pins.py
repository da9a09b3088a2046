"""Operator pins: team spellings mapped by hand, loaded from a small JSON file without a deploy.

The file is `{sport: {spelling: team name}}`, e.g. `{"soccer": {"Spurs": "Tottenham Hotspur"}}`, or
providers' team lists (`[{"provider", "sport", "payload"}]`) for the team registry (`agents.stages.teams`).
A pinned spelling resolves as the named team (its display name included), ahead of the built-in
alias table. The worker re-reads the file when its modification time changes; a file that does
not parse is reported and the previous pins stay in force.

Changing a pin changes the route of that team's new records: fixtures already resolved keep their
ids, records resolved after the change may start a new fixture (reported on canonical.unmatched).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import orjson
from pydantic import ValidationError

from agents.stages import teams as registry
from agents.stages.names import set_pins
from schemas.errors import NormalizationError, SportsflowError
from schemas.reference import TeamReference

log = logging.getLogger(__name__)


class PinsError(SportsflowError, ValueError):
    pass


def parse_pins(data: bytes, source: str) -> dict[str, dict[str, str]]:
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise PinsError(f"{source}: not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise PinsError(f"{source}: expected an object {{sport: {{spelling: team name}}}}")
    pins: dict[str, dict[str, str]] = {}
    for sport, mapping in obj.items():
        if sport.startswith("_"):
            continue  # comments
        if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str) and v.strip()
                                                    for k, v in mapping.items()):
            raise PinsError(f"{source}: {sport!r} must map spellings to non-empty team names")
        pins[sport] = dict(mapping)
    return pins


def load_pins(paths: list[Path]) -> dict[str, dict[str, str]]:
    """Merge pin files (later files win); raises PinsError on a bad file."""
    merged: dict[str, dict[str, str]] = {}
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise PinsError(f"{path}: cannot read: {exc.strerror}") from None
        for sport, mapping in parse_pins(data, str(path)).items():
            merged.setdefault(sport, {}).update(mapping)
    return merged


def load_references(paths: list[Path]) -> tuple[dict[str, dict[str, str]], list[registry.ReferenceTeam]]:
    """Reference files: provider team lists (`{"provider", "sport", "payload"}`, or a list of them) or records of
    reference.teams (a JSON array or JSON lines, as a dump of the topic gives them) for the team registry; any
    other JSON object is a pins file. Raises PinsError on a bad file."""
    pin_files: list[Path] = []
    teams: list[registry.ReferenceTeam] = []
    for path in paths:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise PinsError(f"{path}: cannot read: {exc.strerror}") from None
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            data = _json_lines(raw, path, exc)
        items = data if isinstance(data, list) else [data]
        if items and all(isinstance(i, dict) and i.get("type") == "team_reference" for i in items):
            try:
                teams += [registry.from_record(TeamReference.model_validate(i)) for i in items]
            except ValidationError as exc:
                raise PinsError(f"{path}: not reference.teams records: {exc.errors()[0]['msg']}") from None
        elif items and all(isinstance(i, dict) and "provider" in i and "payload" in i for i in items):
            try:
                for item in items:
                    teams += registry.parse_reference(item["provider"], item["sport"], item["payload"])
            except (NormalizationError, ValueError, KeyError, TypeError, AttributeError) as exc:
                raise PinsError(f"{path}: not a team list: {exc!r}") from None
        else:
            pin_files.append(path)
    return load_pins(pin_files), teams


def _json_lines(raw: bytes, path: Path, error: orjson.JSONDecodeError) -> list[object]:
    """A file of JSON lines (a dump of reference.teams, e.g. `kcat -C -t reference.teams -e`)."""
    try:
        return [orjson.loads(line) for line in raw.splitlines() if line.strip()]
    except orjson.JSONDecodeError:
        raise PinsError(f"{path}: not JSON: {error}") from None


def apply_references(paths: list[Path]) -> None:
    pins, teams = load_references(paths)
    set_pins(pins)
    registry.set_source("file", teams)


class PinsFile:
    """Keeps the process's pins in step with a file, checking it at most every `every_s` seconds."""

    def __init__(self, path: Path | None, every_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._path = path
        self._every_s = every_s
        self._clock = clock
        self._checked = float("-inf")
        self._mtime: float | None = None

    def refresh(self) -> bool:
        """Re-read the file if it changed; True when new pins were applied."""
        if self._path is None or self._clock() - self._checked < self._every_s:
            return False
        self._checked = self._clock()
        try:
            mtime = self._path.stat().st_mtime
        except OSError:
            mtime = None
        if mtime == self._mtime:
            return False
        self._mtime = mtime
        try:
            apply_references([self._path] if mtime is not None else [])
        except PinsError as exc:
            log.warning("team pins not applied, the previous ones stay: %s", exc)
            return False
        log.info("team pins loaded from %s", self._path)
        return True
