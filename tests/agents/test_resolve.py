"""Entity resolution as pure functions: one canonical id per real fixture across providers."""

from __future__ import annotations

from agents.resolve import Fixture, canonical_id, resolve, route_key, team_key

HOUR = 3_600_000


def event(provider: str, pid: str, home: str, away: str, sport: str = "basketball") -> dict:
    return {"type": "event", "provider": provider, "providerEventId": pid, "sport": sport, "homeTeam": home,
            "awayTeam": away}


def test_aliases_and_spellings_meet():
    """Abbreviations, FC suffixes and '&' spellings normalize to one key."""
    assert team_key("basketball", "GS") == team_key("basketball", "Golden State Warriors")
    assert team_key("soccer", "Man Utd") == team_key("soccer", "Manchester United FC")
    assert team_key("soccer", "Brighton & Hove Albion") == team_key("soccer", "Brighton and Hove Albion")
    assert team_key("americanfootball", "PIT") == "pittsburgh-steelers"
    assert team_key("baseball", "PIT") == "pittsburgh-pirates"


def test_route_key_is_shared_by_providers_spelling_teams_differently():
    """SportsDataIO keys and The Odds API names land on the same route (same partition)."""
    assert route_key(event("sportsdataio", "1", "BOS", "LAL")) == route_key(
        event("theoddsapi", "abc", "Boston Celtics", "Los Angeles Lakers"))


def test_records_without_teams_stay_provider_scoped():
    """A record with nothing to match on keeps a provider-scoped route."""
    record = {"type": "odds", "provider": "sportradar", "providerEventId": "sr:match:1", "sport": None}
    assert route_key(record) == "px|sportradar|sr:match:1"


def test_second_provider_merges_into_the_known_fixture():
    """A start time within tolerance joins the existing fixture and records a cross-reference."""
    fixtures: list[Fixture] = []
    first, created = resolve(fixtures, "r", "theoddsapi", "abc", start_ms=10 * HOUR, tolerance_ms=2 * HOUR)
    second, changed = resolve(fixtures, "r", "sportsdataio", "nba:1", start_ms=10 * HOUR + 300_000,
                              tolerance_ms=2 * HOUR)
    assert created
    assert changed
    assert second is first
    assert first.refs == {"theoddsapi": "abc", "sportsdataio": "nba:1"}
    assert first.id == canonical_id("r", 10 * HOUR)


def test_cross_reference_wins_over_a_moved_start_time():
    """A postponed fixture (start moved by days) is still found by the provider's id."""
    fixtures: list[Fixture] = []
    first, _ = resolve(fixtures, "r", "theoddsapi", "abc", start_ms=10 * HOUR, tolerance_ms=2 * HOUR)
    again, changed = resolve(fixtures, "r", "theoddsapi", "abc", start_ms=80 * HOUR, tolerance_ms=2 * HOUR)
    assert again is first
    assert not changed


def test_same_teams_on_another_day_is_another_fixture():
    """The return fixture a week later gets its own canonical id."""
    fixtures: list[Fixture] = []
    first, _ = resolve(fixtures, "r", "theoddsapi", "a", start_ms=10 * HOUR, tolerance_ms=2 * HOUR)
    later, _ = resolve(fixtures, "r", "sportsdataio", "b", start_ms=178 * HOUR, tolerance_ms=2 * HOUR)
    assert later.id != first.id
    assert len(fixtures) == 2


def test_ids_are_deterministic_for_replays():
    """Resolving the same records again (a replay into fresh state) yields the same ids."""
    ids = []
    for _ in range(2):
        fixtures: list[Fixture] = []
        fixture, _ = resolve(fixtures, "fx|soccer|a|b", "apisports", "9", start_ms=5 * HOUR, tolerance_ms=HOUR)
        ids.append(fixture.id)
    assert ids[0] == ids[1]


def test_two_ids_of_one_provider_are_two_fixtures():
    """The demo's 49ers v Bills twice, 30 s apart: one provider's two ids never share a canonical id,
    and a second provider's records pair with the game nearest in start time."""
    fixtures: list[Fixture] = []
    route = "fx|americanfootball|san-francisco-49ers|buffalo-bills"
    one, _ = resolve(fixtures, route, "theoddsapi", "g1", start_ms=10 * HOUR, tolerance_ms=2 * HOUR)
    two, _ = resolve(fixtures, route, "theoddsapi", "g2", start_ms=10 * HOUR + 30_000, tolerance_ms=2 * HOUR)
    assert one.id != two.id
    assert one.refs == {"theoddsapi": "g1"}
    assert two.refs == {"theoddsapi": "g2"}
    other, _ = resolve(fixtures, route, "sportsdataio", "s2", start_ms=10 * HOUR + 30_000, tolerance_ms=2 * HOUR)
    assert other is two
    again, changed = resolve(fixtures, route, "theoddsapi", "g1", start_ms=10 * HOUR, tolerance_ms=2 * HOUR)
    assert again is one and not changed
