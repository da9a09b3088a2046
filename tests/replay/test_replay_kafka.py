"""Replay a day of simulated traffic from Kafka: canonical output, idempotence, speed and resume."""

from __future__ import annotations

import asyncio
import io
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from rich.console import Console

from agents.stages.resolve import canonical_id, fixture_identity, route_key
from pipeline.replay.run import Request, run_replay
from pipeline.replay.select import build_selection
from schemas import topics
from schemas.providers import providers
from schemas.timeutil import iso_z, parse_iso
from tests.replay.support import (
    game_id,
    history_topic,
    invoke,
    produce,
    read_all,
    register_provider,
    teams,
    traffic,
    values,
)

pytestmark = pytest.mark.integration

COUNT, GAMES = 2000, 40


def yesterday() -> datetime:
    return (datetime.now(UTC) - timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)


@pytest.fixture
async def day(stack, monkeypatch, unique):
    """A test provider whose raw topic holds one day (2,000 records) of scores and odds updates."""
    provider = register_provider(monkeypatch, unique)
    topic = topics.raw_topic(provider)
    await history_topic(stack, topic)
    start = yesterday()
    envelopes = traffic(provider, unique, start, count=COUNT, games=GAMES)
    await produce(stack, topic, envelopes)
    return provider, start, envelopes


def published(output: str) -> int:
    return int(re.search(r"published (\d+)", output).group(1))


async def test_day_from_kafka_into_a_topic_twice_adds_nothing_the_second_time(stack, day, unique):
    """A day replays into canonical records with the live ids; replaying it again publishes zero records."""
    provider, start, _envelopes = day
    output = f"replay-test.{unique}"
    args = ["replay", "-p", provider, "--from", iso_z(start), "--to", iso_z(start + timedelta(days=1)),
            "--output", output, "--no-progress"]

    first = await invoke(args)
    assert first.exit_code == 0, first.output
    assert f"replayed {COUNT} raw records from kafka" in first.output
    records = values(await read_all(stack, output))
    assert published(first.output) == len(records) > GAMES

    events = [r for r in records if r["type"] == "event"]
    assert {r["providerEventId"] for r in events} == {game_id(unique, g) for g in range(GAMES)}
    for g in range(GAMES):
        home, away = teams(unique, g)
        mine = [r for r in events if r["providerEventId"] == game_id(unique, g)]
        # Deterministic canonical ids: the same as the live worker gives the fixture.
        start_ms = int(parse_iso(mine[0]["startTime"]).timestamp() * 1000)
        identity = fixture_identity(route_key(mine[0]), mine[0]["sport"], home, away)
        assert {r["id"] for r in mine} == {canonical_id(identity, start_ms)}
        assert [r["seq"] for r in mine] == list(range(1, len(mine) + 1))
        last = mine[-1]
        assert (last["homeTeam"], last["awayTeam"], last["status"]) == (home, away, "final")
        steps = COUNT // GAMES
        final_step = max(s for s in range(steps) if s % 10 != 9)
        assert last["score"] == {"home": final_step // 2, "away": final_step // 3}
    assert {r["type"] for r in records} == {"event", "odds"}

    second = await invoke(args)
    assert second.exit_code == 0, second.output
    assert published(second.output) == 0
    assert f"{len(records)} already present" in second.output
    assert len(await read_all(stack, output)) == len(records)


async def test_dry_run_prints_counts_and_publishes_nothing(stack, day, unique):
    """--dry-run prints the per-partition offsets and counts of the range, and creates no output."""
    provider, start, _ = day
    result = await invoke(["replay", "-p", provider, "--from", iso_z(start), "--to",
                           iso_z(start + timedelta(hours=12)), "--output", f"replay-test.{unique}", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"would replay {COUNT // 2} records from kafka" in result.output
    assert re.search(rf"raw\.{provider}:\d offsets 0-\d+ \(\d+ records\)", result.output)


async def test_explicit_offsets_replay_only_those_records(stack, day, unique):
    """--offsets TOPIC:P:FIRST-END replays exactly END-FIRST records of that partition."""
    provider, _, _ = day
    result = await invoke(["replay", "--offsets", f"raw.{provider}:0:0-10", "--output", f"replay-test.{unique}",
                           "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "replayed 10 raw records from kafka" in result.output


async def test_stopped_replay_resumes_to_the_same_output_as_an_uninterrupted_one(stack, day, unique, tmp_path):
    """Stopped half-way (as Ctrl-C does) and resumed from its position file, a paced replay publishes
    exactly what a straight replay does."""
    provider, start, _ = day
    selection = build_selection(providers=[provider], start=iso_z(start), end=iso_z(start + timedelta(days=1)),
                                known_providers=providers())
    console = Console(file=io.StringIO())
    straight = Request(selection, "kafka", output=f"replay-test.{unique}-straight", progress=False)
    await run_replay(stack, straight, asyncio.Event(), console)

    position = tmp_path / "position.json"
    # 86,400 s of records at 21,600x real time: about 4 s for the day; stopped after about one.
    paced = Request(selection, "kafka", speed=21_600, output=f"replay-test.{unique}-resumed", resume=position,
                    progress=False)
    stop = asyncio.Event()
    task = asyncio.create_task(run_replay(stack, paced, stop, console))
    await asyncio.sleep(1.0)
    stop.set()
    interrupted = await task
    assert interrupted.stopped
    assert 0 < interrupted.read < COUNT
    assert interrupted.resume_file == position
    assert position.exists()

    resumed = await run_replay(stack, replace(paced, speed=0), asyncio.Event(), console)
    assert not resumed.stopped
    assert interrupted.read + resumed.read == COUNT

    def content(records):
        """Two replays are two lineages (their own epochs); all else must be equal."""
        return sorted((m.key, orjson.dumps({k: v for k, v in orjson.loads(m.value).items() if k != "epoch"}))
                      for m in records)

    resumed_output = await read_all(stack, paced.output)
    assert content(resumed_output) == content(await read_all(stack, straight.output))
    assert len({orjson.loads(m.value)["epoch"] for m in resumed_output}) == 1  # a resume continues the lineage
    done = await run_replay(stack, paced, asyncio.Event(), console)  # the position says complete
    assert done.read == 0
