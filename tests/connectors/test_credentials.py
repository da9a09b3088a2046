"""Everything that belongs to a provider credential, not to one feed: Retry-After, a refused key, quota
pacing, and STATSCORE's OAuth token on an HTTP 401. Real connectors against the in-process simulator."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from pydantic import SecretStr

from connectors.apisports import ApiSports
from connectors.health import HealthMonitor, MemoryStatusSink
from connectors.policy import QuotaBudget
from connectors.publisher import MemoryPublisher
from connectors.runner import build_pollers, run_connectors
from connectors.simulator.faults import Fault
from connectors.simulator.server import Simulator
from connectors.simulator.statscore import STATE as STATSCORE_STATE
from connectors.simulator.world import World
from connectors.statscore import Statscore
from connectors.theoddsapi import CONNECTOR as ODDS_API
from runtime.observability import prometheus as metrics
from runtime.settings import ProviderSettings, Settings
from tests.connectors.amqp_support import serve as serve_app
from tests.connectors.test_poller import START, serve

SPORTS = "basketball_nba,americanfootball_nfl,soccer_epl"


def odds_settings(sim: Simulator, url: str, **extra: object) -> Settings:
    provider = ProviderSettings(base_url=url, api_key=SecretStr(sim.key_for("theoddsapi")),
                                params={"sports": SPORTS}, poll_live_s=1.0, poll_idle_s=1.0, **extra)
    return Settings(providers={"theoddsapi": provider})


async def test_one_feeds_429_holds_every_feed_of_the_key_until_retry_after() -> None:
    """The provider said wait to one feed: no feed sharing the key asks before Retry-After has passed."""
    now = [1000.0]
    sim = Simulator(World(start=START, matches=6))
    async with serve(sim) as url, httpx.AsyncClient(base_url=url) as client:
        settings = odds_settings(sim, url)
        pollers = build_pollers(ODDS_API, settings, client, MemoryPublisher(), monitor=HealthMonitor())
        assert len(pollers) == 6  # odds and scores of three sports, one key
        pollers[0].state.gate.clock = lambda: now[0]
        sim.faults.add("theoddsapi", Fault("rate_limit", 30.0))
        assert await pollers[0].step() >= 30.0
        asked = sim.requests["theoddsapi"]
        for poller in pollers[1:]:
            assert await poller.step() == pytest.approx(30.0)
        assert sim.requests["theoddsapi"] == asked  # nothing sent inside the window
        now[0] += 30.5
        for poller in pollers:
            await poller.step()
        assert sim.requests["theoddsapi"] == asked + len(pollers)


async def test_a_revoked_key_takes_every_feed_down_with_its_reason_and_no_request_storm(caplog) -> None:
    """`sportsflow connect` with a key the provider refuses: every feed down saying why, one log line, one request."""
    sim = Simulator(World(start=START, matches=6))
    sink, stop = MemoryStatusSink(), asyncio.Event()
    async with serve(sim) as url:
        settings = odds_settings(sim, url)
        sim.api_keys["theoddsapi"] = "rotated-by-the-customer"  # ours is no longer valid
        caplog.set_level(logging.ERROR, logger="connectors.poller")
        task = asyncio.create_task(run_connectors(settings, MemoryPublisher(), stop, ["theoddsapi"],
                                                  status_sink=sink))
        await asyncio.sleep(7.0)  # every feed has started (the runner spreads starts over 5 s)
        stop.set()
        await task
    assert sim.requests["theoddsapi"] == 1  # the first refusal holds every feed of the key
    down = {s.feed: s.reason for s in sink.records if s.status == "down"}
    assert len(down) == 6
    assert all(r is not None and r.startswith("refused:") and "HTTP 401" in r for r in down.values()), down
    assert len([r for r in caplog.records if "every feed of this credential stops" in r.message]) == 1


async def test_quota_pacing_is_logged_once_exposed_and_expected_by_health(caplog) -> None:
    """4,999 credits left: the feeds slow down to last the month, say so once, and health does not call them silent."""
    clock = [0.0]
    sim = Simulator(World(start=START, matches=6))
    async with serve(sim) as url, httpx.AsyncClient(base_url=url) as client:
        await client.post("/_sim/theoddsapi/credits", json={"remaining": 4999})
        settings = odds_settings(sim, url)
        monitor = HealthMonitor(clock=lambda: clock[0])
        pollers = build_pollers(ODDS_API, settings, client, MemoryPublisher(), monitor=monitor)
        caplog.set_level(logging.WARNING, logger="connectors.poller")
        delays = [await p.step() for p in pollers[:1] for _ in range(3)]
    assert all(d > 3000 for d in delays)  # 30 days * 6 feeds / ~4,989 usable credits
    paced = [r.message for r in caplog.records if "quota pacing" in r.message]
    assert len(paced) == 1, paced
    assert "instead of the configured 1.0s" in paced[0]
    assert "requests left" in paced[0]
    name = pollers[0].feed.name
    assert metrics.POLL_INTERVAL.labels(provider="theoddsapi", feed=name)._value.get() == pytest.approx(delays[-1])
    assert metrics.QUOTA_REMAINING.labels(provider="theoddsapi")._value.get() < 5000
    clock[0] += 3 * 60.0  # far beyond 3 x the configured cadence, well inside the paced one
    monitor.check()
    assert monitor.status("theoddsapi", name) == "up"


async def test_statscore_refreshes_its_token_on_http_401() -> None:
    """A token the provider stops accepting (HTTP 401) is renewed at once and the feed carries on."""
    sim = Simulator(World(start=START, matches=4))
    provider = Statscore()
    async with serve_app(sim) as (url, app), httpx.AsyncClient(base_url=url) as client:
        settings = ProviderSettings(base_url=url, client_id="client", client_secret=SecretStr(sim.key_for("statscore")))
        await provider.prepare(settings, client, HealthMonitor())
        cache = provider.token_cache(settings)
        pollers = build_pollers(provider, Settings(providers={"statscore": settings}), client, MemoryPublisher())
        stop = asyncio.Event()
        refresher = asyncio.create_task(cache.run(stop))
        try:
            await pollers[0].poll_once()
            app[STATSCORE_STATE].tokens.clear()  # revoked upstream, long before its expiry
            delay = await pollers[0].step()
            assert delay <= 2.0  # retried soon: the token is being renewed, the key is fine
            for _ in range(50):
                if cache.refreshes == 2:
                    break
                await asyncio.sleep(0.05)
            assert cache.refreshes == 2
            pollers[0].state.gate.until = 0.0
            await pollers[0].poll_once()  # the new token is accepted
        finally:
            stop.set()
            await refresher
    assert app[STATSCORE_STATE].issued == 2


async def test_api_sports_errors_token_is_a_refused_key_not_a_retry_loop() -> None:
    """API-Sports answers a bad key with HTTP 200 and `errors.token`: the feed is down with that reason and
    nothing more is asked until the slow retry."""
    sim = Simulator(World(start=START, matches=4, sport_keys=("basketball_nba",)))
    provider = ApiSports(clock=lambda: sim.world.now)
    monitor = HealthMonitor()
    async with serve(sim) as url, httpx.AsyncClient(timeout=10.0) as client:
        settings = Settings(providers={"apisports": ProviderSettings(base_url=url, api_key=SecretStr("revoked"))})
        pollers = build_pollers(provider, settings, client, MemoryPublisher(), monitor=monitor)
        assert await pollers[0].step() >= 300.0
        asked = sim.requests["apisports"]
        for poller in pollers:
            assert await poller.step() > 290.0
        assert sim.requests["apisports"] == asked == 1
    down = {r.feed: r.reason or "" for r in monitor.drain() if r.status == "down"}
    assert set(down) == {p.feed.name for p in pollers}
    assert all(r.startswith("refused:") and "token" in r for r in down.values()), down


async def test_quota_pacing_prices_each_poll_as_the_provider_charges_it() -> None:
    """The Odds API charges credits per request (odds: markets x regions = 3, scores with daysFrom: 2): the
    pace must make what is left last the period at that price, not at one credit per poll."""
    sim = Simulator(World(start=START, matches=6))
    async with serve(sim) as url, httpx.AsyncClient(base_url=url) as client:
        await client.post("/_sim/theoddsapi/credits", json={"remaining": 4999})
        pollers = build_pollers(ODDS_API, odds_settings(sim, url), client, MemoryPublisher())
        for poller in pollers:  # one round: each feed learns its price
            await poller.step()
        budget = pollers[0].state.budget
        assert budget.round_cost(len(pollers)) == 3 * 3 + 3 * 2
        delay = await pollers[0].step()
        left = budget.left
    assert left is not None
    assert left == 4999 - 15 - 3
    seconds_left = budget.period_ends_at - budget.clock()
    # Every feed polls once per `delay`: what the key would spend until the period ends.
    projected = seconds_left / delay * budget.round_cost(len(pollers))
    assert 0.95 * (left - budget.reserve) <= projected <= left - budget.reserve


async def test_a_plan_size_paces_from_the_first_request_and_caps_what_is_spent() -> None:
    """PLAN_REQUESTS below what the provider reports left (a key shared with other applications): pacing
    spends the plan, counting what this process spent, whatever the headers say."""
    sim = Simulator(World(start=START, matches=6))
    async with serve(sim) as url, httpx.AsyncClient(base_url=url) as client:
        settings = odds_settings(sim, url, plan_requests=600)
        pollers = build_pollers(ODDS_API, settings, client, MemoryPublisher())
        budget = pollers[0].state.budget
        assert budget.min_interval_s(len(pollers)) == pytest.approx(30 * 86400 * 6 / 590)  # before any answer
        for poller in pollers:
            await poller.step()
        assert budget.remaining is not None
        assert budget.remaining > 10_000  # the provider's headers: a large plan
        assert budget.left == 600 - 15
        delay = await pollers[0].step()
    assert delay == pytest.approx(30 * 86400 * 15 / (600 - 15 - 3 - 10), rel=0.01)


def test_a_new_quota_period_forgets_what_was_left_and_spent() -> None:
    now = [0.0]
    budget = QuotaBudget(period_s=86400.0, plan=100, clock=lambda: now[0])
    budget.update(remaining=5, resets_in_s=3600.0)
    budget.charge(95)
    assert budget.exhausted
    now[0] += 3600.0
    budget.roll()
    assert (budget.remaining, budget.spent, budget.left) == (None, 0.0, 100)
    assert not budget.exhausted


def test_feeds_slower_than_the_pace_are_priced_at_their_own_cadence() -> None:
    """Two odds feeds (3 credits, polled as often as allowed) and a 6-hourly team list (1 credit): the list
    spends 120 credits a month, not one per round of the odds feeds, and the odds feeds get the rest."""
    budget = QuotaBudget(clock=lambda: 0.0)
    budget.update(remaining=4999, resets_in_s=30 * 86400.0)
    budget.poll_cost("odds:a", 3.0, 10.0)
    budget.poll_cost("odds:b", 3.0, 10.0)
    budget.poll_cost("teams", 1.0, 6 * 3600.0)
    pace = budget.min_interval_s(3)
    month = 30 * 86400.0
    spend = 2 * 3.0 * month / max(pace, 10.0) + 1.0 * month / max(pace, 6 * 3600.0)
    assert spend == pytest.approx(4999 - 10)
    assert pace == pytest.approx(month * 6 / (4989 - 120))  # ~3,194 s, not the 3,637 s of pacing all three
    budget.update(remaining=40)  # almost spent: even the team list must slow down
    assert budget.min_interval_s(3) == pytest.approx(month * 7 / 30)
