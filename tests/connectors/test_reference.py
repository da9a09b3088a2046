"""Reference feeds: every connector fetches its provider's team lists from the simulator, on a slow
schedule, into reference.teams records (one per provider team, keyed by provider, sport and team id)."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr

from connectors.base import REFERENCE_INTERVAL_S
from connectors.health import HealthMonitor
from connectors.reference import MemorySender, ReferencePublisher, reference_records
from connectors.registry import all_connectors
from connectors.runner import PreparedProvider, build_pollers
from connectors.simulator import world as sim_world
from connectors.simulator.server import Simulator
from connectors.simulator.world import World
from runtime.settings import ProviderSettings, Settings
from schemas import topics
from schemas.envelope import RawEnvelope
from schemas.reference import TeamReference
from schemas.timeutil import utc_now
from tests.connectors.amqp_support import serve

PARAMS: dict[str, dict[str, Any]] = {
    "sportsdataio": {"params": {"sports": "nba", "competitions": "EPL"}},
    "sportradar": {"params": {"soccer_seasons": "sr:season:118689"}},
    "theoddsapi": {"params": {"sports": "soccer_epl,basketball_nba"}},
    "statscore": {"client_id": "7"},
}


def provider_settings(sim: Simulator, name: str, base_url: str) -> ProviderSettings:
    extra = PARAMS.get(name, {})
    key = SecretStr(sim.key_for(name))
    return ProviderSettings(base_url=base_url, api_key=key, client_secret=key, poll_live_s=1.0, poll_idle_s=1.0,
                            client_id=extra.get("client_id"), params=extra.get("params", {}))


def test_every_provider_has_reference_feeds() -> None:
    """Derived, not hand-kept: each discovered connector says where its team lists are."""
    for name, connector in all_connectors().items():
        feeds = connector.reference_feeds(ProviderSettings(params=PARAMS.get(name, {}).get("params", {})))
        assert feeds, f"{name} fetches no team list"
        assert all(f.feed == "teams" and f.meta.get("sport") for f in feeds), name


@pytest.mark.parametrize("name", sorted(all_connectors()))
async def test_team_lists_from_the_simulator_become_reference_records(name: str, monkeypatch) -> None:
    sim = Simulator(World(seed=5, matches=4))
    # One provider lists a team by an international name and a local short name: both reach the record.
    monkeypatch.setitem(sim_world.LISTED, name, {"Arsenal": ("Arsenal London", "Die Gunners")})
    connector = all_connectors()[name]
    sent = MemorySender()
    raw: list[RawEnvelope] = []

    class Raw:
        async def publish(self, envelopes: Any) -> None:
            raw.extend(envelopes)

    async with serve(sim) as (base_url, _app), httpx.AsyncClient(base_url=base_url) as client:
        settings = provider_settings(sim, name, base_url)
        if isinstance(connector, PreparedProvider):
            await connector.prepare(settings, client, HealthMonitor())
        everything = Settings().model_copy(update={"providers": {name: settings}})
        pollers = [p for p in build_pollers(connector, everything, client, Raw(), reference=ReferencePublisher(sent))
                   if p.feed.feed == "teams"]
        assert pollers
        assert pollers[0].state.feeds == max(1, len(connector.feeds(settings))), \
            "team lists take no share of the quota the scores are paced by"
        for poller in pollers:
            result = await poller.poll_once()
            assert result.next_in_s >= min(REFERENCE_INTERVAL_S, poller.provider.interval(poller.feed, settings, False))
            assert result.next_in_s > 60, "team lists are not polled at the scores' cadence"
        assert not [f for f in pollers[0].state.budget.costs if f.startswith("teams:")]
        first = len(sent.records)
        for poller in pollers:
            await poller.poll_once()
    assert raw == [], "team lists never go to the raw topic"
    assert first
    assert len(sent.records) == first, "an unchanged list is not published again"
    assert {t for t, _, _, _ in sent.records} == {topics.REFERENCE_TEAMS}
    teams = [TeamReference.model_validate(orjson.loads(v)) for _, _, v, _ in sent.records]
    assert all(k.decode() == t.entity_key and t.provider == name for (_, k, _, _), t in zip(sent.records, teams,
                                                                                            strict=True))
    assert len({t.entity_key for t in teams}) == len(teams)
    if name != "jolpica":  # Jolpica lists drivers and constructors only
        soccer = {(t.name, t.short_name) for t in teams if t.sport == "soccer" and t.kind == "team"}
        if any(t.sport == "soccer" for t in teams):
            assert ("Arsenal London", "Die Gunners") in soccer or ("Arsenal London", None) in soccer
    else:
        assert {t.kind for t in teams} == {"team", "driver"}


def test_a_list_that_does_not_parse_is_dead_lettered_with_the_reason() -> None:
    envelope = RawEnvelope(provider="theoddsapi", feed="teams", key="teams:soccer_epl", params={"sport": "soccer"},
                           received_at=utc_now(), content_type="json", payload={"message": "not a list"},
                           content_hash="x")
    [(topic, _key, value, _headers)] = reference_records(envelope)
    assert topic == topics.DEADLETTER
    body = orjson.loads(value)
    assert body["provider"] == "theoddsapi"
    assert "expected a JSON array" in body["error"]
