"""Operator pins: a file re-read when it changes; a bad file keeps the pins in force."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agents.stages.names import set_pins, set_reference
from agents.stages.pins import PinsError, PinsFile, load_references, parse_pins
from agents.stages.resolve import route_key, team_key


@pytest.fixture(autouse=True)
def _no_pins_after():
    yield
    set_pins({})
    set_reference({})


def test_a_pinned_spelling_resolves_as_the_named_team(tmp_path: Path) -> None:
    path = tmp_path / "pins.json"
    clock = [0.0]
    pins = PinsFile(path, every_s=5.0, clock=lambda: clock[0])
    assert team_key("soccer", "Lilywhites") != team_key("soccer", "Tottenham Hotspur")
    path.write_text(json.dumps({"soccer": {"Lilywhites": "Tottenham Hotspur"}}))
    assert pins.refresh()
    assert team_key("soccer", "Lilywhites") == team_key("soccer", "Tottenham Hotspur")
    record = {"type": "event", "sport": "soccer", "homeTeam": "Lilywhites", "awayTeam": "Arsenal"}
    assert route_key(record) == route_key(record | {"homeTeam": "Tottenham Hotspur"})

    path.write_text("{broken")
    os.utime(path, (1, 1))
    clock[0] = 1.0
    assert not pins.refresh(), "checked at most every 5 s"
    clock[0] = 10.0
    assert not pins.refresh(), "a broken file is not applied"
    assert team_key("soccer", "Lilywhites") == team_key("soccer", "Tottenham Hotspur")

    path.unlink()
    clock[0] = 20.0
    assert pins.refresh()
    assert team_key("soccer", "Lilywhites") != team_key("soccer", "Tottenham Hotspur")


@pytest.mark.parametrize("text", ["[]", '{"soccer": ["x"]}', '{"soccer": {"x": ""}}', '{"soccer": {"x": 1}}'])
def test_malformed_pins_are_rejected_with_the_reason(text: str) -> None:
    with pytest.raises(PinsError, match=r"pins\.json"):
        parse_pins(text.encode(), "pins.json")


def test_a_pins_file_may_hold_provider_team_lists(tmp_path: Path) -> None:
    path = tmp_path / "teams.json"
    path.write_text(json.dumps([{"provider": "apisports", "sport": "soccer", "payload": {"response": [
        {"team": {"id": 50, "name": "Manchester City", "code": "MAC"}}]}}]))
    assert PinsFile(path).refresh()
    assert team_key("soccer", "MAC") == team_key("soccer", "Manchester City")
    path.write_text(json.dumps([{"provider": "nobody", "sport": "soccer", "payload": []}]))
    os.utime(path, (5, 5))
    with pytest.raises(PinsError, match="not a team list"):
        load_references([path])


def test_a_fixture_route_follows_pins_and_team_lists_as_they_change() -> None:
    """Route keys are memoized (stage 1 computes one per record): a pin or a team list must still move them."""
    record = {"type": "event", "sport": "soccer", "homeTeam": "Lilywhites", "awayTeam": "Arsenal"}
    spurs = record | {"homeTeam": "Tottenham Hotspur"}
    assert route_key(record) != route_key(spurs)
    set_pins({"soccer": {"Lilywhites": "Tottenham Hotspur"}})
    assert route_key(record) == route_key(spurs)
    set_pins({})
    assert route_key(record) != route_key(spurs)
    set_reference({"soccer": {"Lilywhites": "Tottenham Hotspur"}})
    assert route_key(record) == route_key(spurs)
