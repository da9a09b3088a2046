"""Every simulator fault against a real connector: it backs off, stays within quota, recovers, loses nothing.

Polls are driven one at a time with `FeedPoller.step()`; delays are the computed ones (a
deterministic `Backoff`), never wall-clock sleeps.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from pydantic import SecretStr

from connectors.apisports import ApiSports
from connectors.poller import FeedPoller
from connectors.publisher import MemoryPublisher
from connectors.simulator.faults import Fault
from connectors.simulator.server import Simulator
from connectors.simulator.sportsdataio import game_id
from connectors.simulator.world import World
from connectors.sportsdataio import SportsDataIO
from runtime.settings import ProviderSettings
from schemas.providers import normalize
from tests.connectors.test_poller import START, make_poller, serve

CLIENT_TIMEOUT_S = 0.3
FIRST_BACKOFF_S = 0.375  # Backoff(base_s=0.5, rng=0.5): 0.5 * (0.5 + 0.25)


@dataclass(frozen=True)
class Expect:
    failed: bool  # the faulted poll raised
    delay: float  # the delay step() computed after it
    published: bool = True  # for a successful faulted poll: whether it carried the tick's change


CASES = {
    "latency": (Fault("latency", 0.05), Expect(failed=False, delay=5.0)),
    "rate_limit": (Fault("rate_limit", 7.0), Expect(failed=True, delay=7.0)),
    "server_error": (Fault("server_error"), Expect(failed=True, delay=FIRST_BACKOFF_S)),
    "timeout": (Fault("timeout", 0.6), Expect(failed=True, delay=FIRST_BACKOFF_S)),
    "silent": (Fault("silent", 0.6), Expect(failed=True, delay=FIRST_BACKOFF_S)),
    "truncate": (Fault("truncate"), Expect(failed=True, delay=FIRST_BACKOFF_S)),
    "malformed": (Fault("malformed"), Expect(failed=True, delay=FIRST_BACKOFF_S)),
    "quota": (Fault("quota"), Expect(failed=True, delay=3600.0)),
    "duplicate": (Fault("duplicate"), Expect(failed=False, delay=5.0, published=False)),
    "out_of_order": (Fault("out_of_order"), Expect(failed=False, delay=5.0, published=False)),
}


def latest_scores(publisher: MemoryPublisher) -> dict[str, tuple[str, int | None, int | None]]:
    """Each game's last published (status, home, away), as the normalizer reads it."""
    latest = {}
    for envelope in publisher.envelopes:
        [event] = normalize("sportsdataio", envelope.feed, envelope.payload, envelope.normalizer_params())
        latest[envelope.key] = (str(event.status), event.score.home, event.score.away)
    return latest


def world_scores(world: World) -> dict[str, tuple[str, int | None, int | None]]:
    status = {"scheduled": "scheduled", "live": "live", "final": "final"}
    return {f"nba:{game_id(m)}": (status[m.status], m.home_score if m.started else None,
                                  m.away_score if m.started else None) for m in world.by_sport("basketball_nba")}


def sdio_poller(
    world: World, sim: Simulator, url: str, client: httpx.AsyncClient
) -> tuple[FeedPoller, MemoryPublisher]:
    provider = SportsDataIO(clock=lambda: world.now)
    config = ProviderSettings(base_url=url, api_key=SecretStr(sim.key_for("sportsdataio")), params={"sports": "nba"})
    feed = next(f for f in provider.feeds(config) if f.name == "scores:nba")
    publisher = MemoryPublisher()
    return make_poller(provider, feed, config, client, publisher), publisher


@pytest.mark.parametrize("kind", list(CASES))
async def test_fault_backs_off_and_loses_no_update(kind):
    """One faulted poll between healthy ones: the right delay, one request each, and the world's state at the end."""
    fault, expect = CASES[kind]
    world = World(start=START, matches=6, live_ticks=30, sport_keys=("basketball_nba",))
    sim = Simulator(world)
    async with serve(sim) as url, httpx.AsyncClient(base_url=url, timeout=CLIENT_TIMEOUT_S) as client:
        poller, publisher = sdio_poller(world, sim, url, client)
        world.tick()
        assert await poller.step() == 5.0  # healthy: the CDN's max-age
        world.tick()
        await poller.step()  # a second healthy answer, so an out-of-order one has something older to replay
        before = len(publisher.envelopes)
        world.tick()
        sim.faults.add("sportsdataio", fault)
        delay = await poller.step()
        assert delay == pytest.approx(expect.delay)
        assert poller.backoff.attempt == (1 if expect.failed and kind != "quota" else 0)
        published_during_fault = len(publisher.envelopes) - before
        if expect.failed or not expect.published:
            assert published_during_fault == 0
        else:
            assert published_during_fault > 0
        gate = poller.state.gate
        if gate.wait_s() > 0:  # the provider said wait (Retry-After, quota): nothing is asked until then
            asked = sim.requests["sportsdataio"]
            assert await poller.step() == pytest.approx(gate.wait_s(), abs=1.0)
            assert sim.requests["sportsdataio"] == asked
            gate.until = 0.0  # ... and the wait is over
        # Recovery: the next poll succeeds, resets the backoff and publishes what changed meanwhile.
        world.tick()
        assert await poller.step() == 5.0
        assert poller.backoff.attempt == 0
        assert gate.refusal is None
        assert sim.faults.pending("sportsdataio") == 0
        assert sim.requests["sportsdataio"] == 4  # one request per poll: no retry storm inside a poll
    assert latest_scores(publisher) == world_scores(world)


async def test_repeated_failures_grow_the_backoff_and_open_the_circuit():
    """Consecutive server errors double the delay up to the breaker, which then stops requests until it resets."""
    world = World(start=START, matches=2, sport_keys=("basketball_nba",))
    sim = Simulator(world)
    async with serve(sim) as url, httpx.AsyncClient(base_url=url, timeout=CLIENT_TIMEOUT_S) as client:
        poller, publisher = sdio_poller(world, sim, url, client)
        sim.faults.add("sportsdataio", Fault("server_error"), count=5)
        delays = [await poller.step() for _ in range(5)]
        assert delays == pytest.approx([0.375, 0.75, 1.5, 3.0, 6.0])
        assert poller.state.breaker.is_open
        requests = sim.requests["sportsdataio"]
        assert await poller.step() > 0  # refused locally while open
        assert sim.requests["sportsdataio"] == requests
        poller.state.breaker.opened_at = -1e9  # the reset period has passed: one probe goes through
        world.tick()
        assert await poller.step() == 5.0
    assert latest_scores(publisher) == world_scores(world)


async def test_apisports_quota_exhaustion_stops_requests_until_the_day_resets():
    """`errors.requests` with remaining 0: no request is sent until the quota period ends, then all is caught up."""
    now = [1_000_000.0]
    world = World(start=START, matches=4, sport_keys=("basketball_nba",))
    sim = Simulator(world)
    provider = ApiSports(clock=lambda: world.now)
    async with serve(sim) as url, httpx.AsyncClient(timeout=CLIENT_TIMEOUT_S) as client:
        config = ProviderSettings(base_url=url, api_key=SecretStr(sim.key_for("apisports")))
        feed = next(f for f in provider.feeds(config) if f.feed == "basketball-games")
        publisher = MemoryPublisher()
        poller = make_poller(provider, feed, config, client, publisher)
        poller.state.budget.clock = poller.state.gate.clock = lambda: now[0]
        world.tick()
        await poller.step()
        sim.faults.add("apisports", Fault("quota"))
        world.tick()
        delay = await poller.step()
        assert delay > 3600  # until 00:00 UTC
        assert poller.state.budget.exhausted
        requests = sim.requests["apisports"]
        for _ in range(3):
            world.tick()
            assert await poller.step() >= 60
        assert sim.requests["apisports"] == requests  # within quota: nothing sent while it is spent
        now[0] += 86400  # a new day
        await poller.step()
        assert sim.requests["apisports"] == requests + 1
    latest = {}
    for envelope in publisher.envelopes:
        [event] = normalize("apisports", envelope.feed, envelope.payload, envelope.normalizer_params())
        latest[event.home_team, event.away_team] = (event.score.home, event.score.away)
    assert latest == {(m.home, m.away): (m.home_score, m.away_score) if m.started else (None, None)
                      for m in world.matches.values()}
