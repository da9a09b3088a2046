"""Selections, resume positions, pacing, the idempotence index and the diff, without any service."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from agents.stages.normalize import OutRecord
from pipeline.replay.diff import compare
from pipeline.replay.engine import Dedupe, Pacer
from pipeline.replay.select import Position, SelectionError, build_selection, parse_offsets
from tests.replay.support import invoke_sync

KNOWN = ["sportsdataio", "theoddsapi"]
ROOT = Path(__file__).resolve().parents[2]


def test_time_range_selection_defaults_to_every_raw_topic():
    """--from/--to without topics selects every provider's raw topic; times are UTC."""
    s = build_selection(start="2026-11-28T00:00:00Z", end="2026-11-29", known_providers=KNOWN)
    assert s.topics == ("raw.sportsdataio", "raw.theoddsapi")
    assert (s.start, s.end) == (datetime(2026, 11, 28, tzinfo=UTC), datetime(2026, 11, 29, tzinfo=UTC))
    assert s.wants(s.start_ms, b"k")
    assert not s.wants(s.end_ms, b"k")


def test_to_defaults_to_now_and_providers_map_to_raw_topics():
    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    s = build_selection(providers=["theoddsapi"], start="2026-11-28T10:00:00+02:00", known_providers=KNOWN, now=now)
    assert s.topics == ("raw.theoddsapi",)
    assert s.start == datetime(2026, 11, 28, 8, tzinfo=UTC)
    assert s.end == now


def test_key_globs_filter_records():
    s = build_selection(start="2026-11-28", end="2026-11-29", keys=["abc-*"], known_providers=KNOWN)
    assert s.wants(s.start_ms, b"abc-1")
    assert not s.wants(s.start_ms, b"xyz")


def test_offsets_are_half_open_ranges_per_partition():
    assert parse_offsets("raw.theoddsapi:0:100-200") == ("raw.theoddsapi", 0, 100, 200)
    s = build_selection(offsets=["raw.theoddsapi:0:100-200,raw.theoddsapi:3:0-5"], known_providers=KNOWN)
    assert s.offset_ranges() == {("raw.theoddsapi", 0): (100, 200), ("raw.theoddsapi", 3): (0, 5)}
    assert not s.by_time


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"topic_names": ["canonical.events"], "start": "2026-11-28"}, "unknown topic 'canonical.events'"),
    ({"topic_names": ["raw.nobody"], "start": "2026-11-28"}, "unknown topic 'raw.nobody'"),
    ({"providers": ["nobody"], "start": "2026-11-28"}, "unknown provider 'nobody'"),
    ({"start": "2026-11-29", "end": "2026-11-28"}, "end before start"),
    ({"start": "2026-11-28", "end": "2026-11-28T00:00:00Z"}, "empty range"),
    ({"start": "yesterday"}, "--from 'yesterday' is not a time"),
    ({}, "choose what to replay"),
    ({"offsets": ["raw.theoddsapi:0:5-5"]}, "empty range"),
    ({"offsets": ["raw.theoddsapi:0:100"]}, "expected TOPIC:PARTITION:FIRST-END"),
    ({"offsets": ["raw.theoddsapi:0:1-2"], "start": "2026-11-28"}, "not both"),
    ({"offsets": ["raw.theoddsapi:0:1-2", "raw.theoddsapi:0:3-4"]}, "twice"),
])
def test_bad_selections_are_clear_errors(kwargs, message):
    with pytest.raises(SelectionError) as info:
        build_selection(known_providers=KNOWN, **kwargs)
    assert message in str(info.value)
    assert info.value.exit_code == 2


def test_position_round_trips_and_refuses_another_selection(tmp_path):
    """The position file keeps next offsets and state; it only resumes the selection it was written for."""
    s = build_selection(start="2026-11-28", end="2026-11-29", known_providers=KNOWN)
    position = Position(s.describe(), "s3", "scratch", {("raw.theoddsapi", 2): 41}, {"entities": {"k": {"seq": 3}}})
    path = tmp_path / "p.json"
    position.save(path)
    loaded = Position.from_json(path.read_bytes())
    assert loaded == position
    assert loaded.done(("raw.theoddsapi", 2), 40)
    assert not loaded.done(("raw.theoddsapi", 2), 41)
    loaded.check(s, "scratch")
    other = build_selection(start="2026-11-28", end="2026-11-30", known_providers=KNOWN)
    with pytest.raises(SelectionError, match="another replay"):
        loaded.check(other, "scratch")
    with pytest.raises(SelectionError, match="another replay"):
        loaded.check(s, None)


def test_pacer_holds_records_to_the_speed_factor():
    now = [100.0]
    pacer = Pacer(60.0, clock=lambda: now[0])
    assert pacer.delay(0) == 0.0
    assert pacer.delay(60_000) == pytest.approx(1.0)  # a minute of records takes a second at 60x
    now[0] += 0.25
    assert pacer.delay(60_000) == pytest.approx(0.75)
    assert Pacer(0).delay(10**12) == 0.0


def _out(key: str, home: int, seq: int) -> OutRecord:
    body = b'{"type":"event","id":"%s","score":{"home":%d},"seq":%d,"timestamp":"t%d"}' % (
        key.encode(), home, seq, seq)
    return OutRecord("canonical.events", key.encode(), body, [])


def test_dedupe_admits_only_versions_not_already_in_the_topic():
    """Content counts per entity, ignoring seq and timestamps; a repeated content needs a repeated record."""
    existing = Dedupe()
    for seq, home in enumerate([0, 1, 0], start=1):
        existing.add_existing("t", b"e1", _out("e1", home, seq).value)
    replay = Dedupe(existing.existing)
    admitted = [replay.admit("t", _out("e1", home, seq + 10)) for seq, home in enumerate([0, 1, 0, 0, 2])]
    assert admitted == [False, False, False, True, True]


def test_compare_reports_added_removed_and_changed_fields():
    pub = {("canonical.events", "a"): [{"score": 1, "seq": 1}], ("canonical.events", "b"): [{"score": 1}],
           ("canonical.events", "c"): [{"score": 1, "seq": 7, "timestamp": "x"}]}
    rep = {("canonical.events", "a"): [{"score": 2, "seq": 1}], ("canonical.events", "d"): [{"score": 1}],
           ("canonical.events", "c"): [{"score": 1, "seq": 1, "timestamp": "y"}]}
    diffs = {(d.key, d.kind): d for d in compare(pub, rep)}
    assert set(diffs) == {("a", "changed"), ("b", "removed"), ("d", "added")}
    assert diffs[("a", "changed")].fields == {"score": (1, 2)}


def test_compare_catches_a_different_version_sequence_with_the_same_final_state():
    pub = {("t", "a"): [{"s": 1}, {"s": 2}]}
    rep = {("t", "a"): [{"s": 0}, {"s": 1}, {"s": 2}]}
    [diff] = compare(pub, rep)
    assert diff.kind == "changed"
    assert diff.versions == (2, 3)
    assert "(versions)" in diff.fields


@pytest.mark.parametrize(("args", "message"), [
    (["-t", "raw.nobody", "--from", "2026-11-28"], "unknown topic 'raw.nobody'"),
    (["--from", "2026-11-29", "--to", "2026-11-28"], "end before start"),
    (["--offsets", "raw.theoddsapi:0:1-2", "--source", "s3"], "--offsets reads Kafka only"),
    (["--from", "2026-11-28", "--speed", "-1"], "--speed must be 0"),
])
def test_cli_bad_selections_exit_2(args, message):
    """`sportsflow replay` and `replay diff` refuse bad selections with exit status 2 and the reason."""
    for command in (["replay"], ["replay", "diff"]):
        result = invoke_sync([*command, *args])
        assert result.exit_code == 2, result.output
        assert message in result.output


def test_faust_app_command_refuses_a_bad_selection():
    """`faust -A pipeline.app replay` is the same command: a bad selection exits 2 with the reason."""
    proc = subprocess.run([sys.executable, "-m", "faust", "-A", "pipeline.app", "replay", "-t", "raw.nobody",
                           "--from", "2026-11-28"], check=False, cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "unknown topic 'raw.nobody'" in proc.stderr


def test_dedupe_ignores_who_reported_the_fixture():
    """Seen in a large accuracy run: the live worker published a fixture's first live 0-0 after a second
    provider had joined it, the replay (reading by record time) before: the two records differ only in
    `providerNames`, and the replay re-published 28 of them. They are the same version to a consumer."""
    def event(names: dict[str, dict[str, str]], home: int) -> bytes:
        return orjson.dumps({"type": "event", "id": "e1", "score": {"home": home}, "seq": 1,
                             "providerNames": names, "refs": dict.fromkeys(names, "x")})

    both = {"theoddsapi": {"homeTeam": "A"}, "apisports": {"homeTeam": "FC A"}}
    existing = Dedupe()
    existing.add_existing("t", b"e1", event(both, 0))
    replay = Dedupe(existing.existing)
    assert not replay.admit("t", OutRecord("t", b"e1", event({"theoddsapi": {"homeTeam": "A"}}, 0), []))
    assert replay.admit("t", OutRecord("t", b"e1", event(both, 1), []))  # a new score is new content
