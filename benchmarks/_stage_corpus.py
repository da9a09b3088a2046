"""Raw records as the worker receives them, for the stage-cost benchmark and the stages' golden test.

The provider simulator's world is polled by the real connectors (every provider, each spelling teams its
own way, each splitting its answers into one envelope per entity and dropping unchanged ones), tick after
tick, so the mix is what a worker sees: known fixtures re-polled with a changed score, odds moving while
the event is unchanged, a few new fixtures, a race. Added on purpose, because real feeds do it too: the
same teams twice in a day (and the return leg), envelopes delivered twice and late, UOF XML messages
without their fixture, and records that must become dead letters.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiohttp import web
from pydantic import SecretStr

from connectors.health import HealthMonitor
from connectors.poller import FeedPoller, ProviderState
from connectors.publisher import MemoryPublisher, record_headers
from connectors.registry import all_connectors
from connectors.simulator.server import Simulator, build_app
from connectors.simulator.world import World
from runtime.backoff import Backoff
from runtime.settings import ProviderSettings
from schemas import topics
from schemas.envelope import RawEnvelope

ROOT = Path(__file__).resolve().parent.parent
UOF_SAMPLES = ("uof_odds_change_prematch.xml", "uof_odds_change_live.xml", "uof_bet_stop.xml")


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One record of a raw.<provider> topic, as a Kafka consumer hands it over."""

    topic: str
    partition: int
    offset: int
    value: bytes
    headers: list[tuple[str, bytes]]

    def to_json(self) -> bytes:
        return orjson.dumps({"topic": self.topic, "partition": self.partition, "offset": self.offset,
                             "value": self.value.decode(), "headers": [[k, v.decode()] for k, v in self.headers]})

    @classmethod
    def from_json(cls, line: bytes) -> RawRecord:
        obj = orjson.loads(line)
        return cls(obj["topic"], obj["partition"], obj["offset"], obj["value"].encode(),
                   [(k, v.encode()) for k, v in obj["headers"]])


def make_world(matches: int, *, seed: int, start: datetime, live_ticks: int) -> World:
    """A world whose first soccer match is played twice in a day (and once the other way round)."""
    world = World(seed=seed, matches=matches, live_ticks=live_ticks, start=start, races=1, race_laps=live_ticks // 2)
    soccer = [m for m in world.matches.values() if m.sport == "soccer"]
    if len(soccer) >= 3:
        first, again, return_leg = soccer[:3]
        again.home, again.away = first.home, first.away
        again.commence = first.commence + timedelta(hours=5)  # the same teams again, later that day
        return_leg.home, return_leg.away = first.away, first.home
        return_leg.commence = first.commence + timedelta(minutes=1)
    return world


async def poll_world(world: World, ticks: int, tick_s: float = 3.0) -> list[RawEnvelope]:
    """Every connector's feeds polled once per tick against the simulator; the envelopes they published."""
    sim = Simulator(world)
    runner = web.AppRunner(build_app(sim), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    publisher = MemoryPublisher()
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10.0) as client:
            pollers: list[FeedPoller] = []
            for name, provider in sorted(all_connectors().items()):
                key = SecretStr(sim.key_for(name))
                settings = ProviderSettings(
                    base_url=url, api_key=key, client_id=f"sim-{name}-client", client_secret=key,
                    params={"sports": "basketball_nba,americanfootball_nfl,soccer_epl"} if name == "theoddsapi" else {})
                prepare = getattr(provider, "prepare", None)
                if prepare is not None:
                    await prepare(settings, client, HealthMonitor())
                state = ProviderState()
                pollers += [FeedPoller(provider, feed, settings=settings, client=client, publisher=publisher,
                                       state=state, backoff=Backoff(rng=lambda: 0.5))
                            for feed in provider.feeds(settings)]
            for _ in range(ticks):
                world.tick(tick_s)
                for poller in pollers:
                    await poller.poll_once()
    finally:
        await runner.cleanup()
    return publisher.envelopes


def uof_envelopes(received_at: datetime) -> list[RawEnvelope]:
    """UOF messages as the AMQP connector publishes them, without their REST fixture (px| routes)."""
    folder = ROOT / "tests" / "fixtures" / "sportradar"
    return [RawEnvelope(provider="sportradar", feed="uof", key=f"uof:{name}", content_type="xml",
                        payload=(folder / name).read_text(), received_at=received_at + timedelta(seconds=i))
            for i, name in enumerate(UOF_SAMPLES)]


def broken_envelopes(received_at: datetime) -> list[bytes]:
    """What must become dead letters: bytes that are no envelope, a payload its normalizer refuses."""
    refused = RawEnvelope(provider="theoddsapi", feed="scores", key="broken", payload=[{"id": "x"}],
                          received_at=received_at)
    return [b"{not json", refused.to_json()]


def with_replays(envelopes: list[RawEnvelope], *, every: int, late_by: int = 80) -> Iterator[RawEnvelope]:
    """Every `every`-th envelope is delivered again right away (a repeat) and once more `late_by` records
    later (late: by then the next poll's newer data for it has been processed)."""
    late: list[tuple[int, RawEnvelope]] = []
    for i, envelope in enumerate(envelopes):
        yield envelope
        if every and i % every == every - 1:
            yield envelope
            late.append((i + late_by, envelope))
        while late and late[0][0] <= i:
            yield late.pop(0)[1]
    yield from (envelope for _, envelope in late)


def to_records(envelopes: list[RawEnvelope], extra: list[bytes] = ()) -> list[RawRecord]:  # type: ignore[assignment]
    """Raw topic records: the connector's headers, offsets per topic, the extra bytes on raw.theoddsapi."""
    offsets: dict[str, itertools.count[int]] = {}
    records = []
    for envelope in envelopes:
        topic = topics.raw_topic(envelope.provider)
        offset = next(offsets.setdefault(topic, itertools.count()))
        records.append(RawRecord(topic, 0, offset, envelope.to_json(), record_headers(envelope)))
    for value in extra:
        topic = topics.raw_topic("theoddsapi")
        records.append(RawRecord(topic, 0, next(offsets.setdefault(topic, itertools.count())), value, []))
    return records


def build(*, matches: int, ticks: int, seed: int, start: datetime, replay_every: int) -> list[RawRecord]:
    world = make_world(matches, seed=seed, start=start, live_ticks=max(4, ticks - 4))
    polled = asyncio.run(poll_world(world, ticks))
    envelopes = list(with_replays(polled, every=replay_every)) + uof_envelopes(start)
    return to_records(envelopes, broken_envelopes(start))


def read(path: Path) -> list[RawRecord]:
    return [RawRecord.from_json(line) for line in path.read_bytes().splitlines() if line.strip()]


def write(path: Path, records: list[RawRecord]) -> None:
    path.write_bytes(b"".join(r.to_json() + b"\n" for r in records))


def summary(records: list[RawRecord]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for record in records:
        counts[record.topic] = counts.get(record.topic, 0) + 1
    return counts
