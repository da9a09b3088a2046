"""Replay-and-diff against what the live worker published: clean when nothing changed, and a
deliberately changed normalizer shows up as changed entities with a non-zero exit."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from pipeline.replay.engine import Replayer
from pipeline.replay.source import RawRecord
from schemas import providers as registry
from schemas import topics
from schemas.timeutil import iso_z
from tests.conftest import collect
from tests.replay.support import invoke, produce, traffic

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

COUNT, GAMES = 60, 4


def expected_versions(settings, envelopes) -> int:
    """How many canonical records the worker publishes for these envelopes (the same pure stages)."""
    from connectors.publisher import record_headers

    replayer = Replayer(settings.processing)
    records = [RawRecord("raw.theoddsapi", 0, i, e.received_at_ms, e.key.encode(), e.to_json(), record_headers(e))
               for i, e in enumerate(envelopes)]
    # Canonical records only: a new fixture's review goes to canonical.unmatched, not to the events.
    return sum(1 for r in records for out in replayer.process(r).outputs if out.topic in topics.CANONICAL_TOPICS)


def with_extra_home_goal(real):
    def normalize(payload, params):
        return [r.model_copy(update={"score": r.score.model_copy(update={"home": (r.score.home or 0) + 1})})
                for r in real(payload, params)]
    return normalize


async def test_diff_is_clean_then_catches_a_changed_normalizer(stack, worker, consumer_factory, monkeypatch,
                                                             unique):
    """Unchanged normalizers: exit 0 and nothing added/removed/changed. A scores normalizer that adds a
    home goal: exit 1, every game reported changed with its score."""
    began = datetime.now(UTC)
    first = began - timedelta(minutes=10)
    envelopes = traffic("theoddsapi", unique, first, count=COUNT, games=GAMES, hours=9 / 60, odds=False)
    expected = expected_versions(stack, envelopes)
    events = await consumer_factory(topics.EVENTS)
    await produce(stack, topics.raw_topic("theoddsapi"), envelopes)

    def mine(m) -> bool:
        return dict(m.headers).get("sf-app") == worker.encode() and \
            orjson.loads(m.value)["providerEventId"].startswith(unique)

    await collect(events, mine, count=expected, timeout=120)
    args = ["replay", "diff", "-p", "theoddsapi", "--from", iso_z(first - timedelta(minutes=1)),
            "--to", iso_z(datetime.now(UTC) + timedelta(minutes=1)), "--key", f"{unique}-*", "--app", worker,
            "--published-from", iso_z(began - timedelta(seconds=5)), "--no-progress"]

    clean = await invoke(args)
    assert clean.exit_code == 0, clean.output
    assert f"diff: {GAMES} entities; {COUNT} raw records replayed" in clean.output
    assert f"{expected} canonical records replayed, {expected} published" in clean.output
    assert "0 added, 0 removed, 0 changed" in clean.output

    real = registry.get_feed("theoddsapi", "scores")
    monkeypatch.setitem(registry._FEEDS, ("theoddsapi", "scores"), replace(real, normalize=with_extra_home_goal(
        real.normalize)))
    changed = await invoke(args)
    assert changed.exit_code == 1, changed.output
    assert f"0 added, 0 removed, {GAMES} changed" in changed.output
    assert changed.output.count("~ changed canonical.events sf_") == GAMES
    final_home = (COUNT // GAMES - 1) // 2
    assert f'score: {{"home":{final_home},"away":' in changed.output
    assert f'-> {{"home":{final_home + 1},"away":' in changed.output
