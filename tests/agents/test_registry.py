"""The team registry from providers' own team lists: one canonical team per real team, its spellings."""

from __future__ import annotations

import pytest

from agents.reference import ReferenceTeams
from agents.stages import teams as registry
from agents.stages.names import set_reference
from agents.stages.resolve import Candidate, Fixtures, Resolution, resolve, route_key, team_key
from schemas.errors import NormalizationError
from schemas.reference import TeamReference

# Each provider's reference response, in its documented shape, for a few EPL clubs.
SPORTRADAR = {"season_competitors": [
    {"id": "sr:competitor:35", "name": "Manchester United", "short_name": "Man Utd", "abbreviation": "MUN"},
    {"id": "sr:competitor:17", "name": "Manchester City", "short_name": "Man City", "abbreviation": "MCI"},
    {"id": "sr:competitor:33", "name": "Tottenham Hotspur", "short_name": "Tottenham", "abbreviation": "TOT"},
    {"id": "sr:competitor:39", "name": "Wolverhampton Wanderers", "short_name": "Wolves", "abbreviation": "WOL"},
]}
APISPORTS = {"response": [
    {"team": {"id": 33, "name": "Manchester United", "code": "MUN", "country": "England"}},
    {"team": {"id": 50, "name": "Manchester City", "code": "MAC", "country": "England"}},
    {"team": {"id": 47, "name": "Tottenham", "code": "TOT", "country": "England"}},
    {"team": {"id": 39, "name": "Wolves", "code": "WOL", "country": "England"}},
]}
ODDS_API = [{"full_name": "Manchester United", "id": "par_01"}, {"full_name": "Manchester City", "id": "par_02"},
            {"full_name": "Tottenham Hotspur", "id": "par_03"},
            {"full_name": "Wolverhampton Wanderers", "id": "par_04"}]
STATSCORE = {"api": {"data": {"participants": [
    {"id": 1001, "name": "Manchester United FC", "short_name": "Man United", "acronym": "MUN"},
    {"id": 1002, "name": "Manchester City FC", "short_name": "Man City", "acronym": "MCI"},
    {"id": 1003, "name": "Tottenham Hotspur FC", "short_name": "Spurs", "acronym": "TOT"},
]}}}


@pytest.fixture
def teams() -> list[registry.CanonicalTeam]:
    found = [*registry.parse_reference("sportradar", "soccer", SPORTRADAR),
             *registry.parse_reference("apisports", "soccer", APISPORTS),
             *registry.parse_reference("theoddsapi", "soccer", ODDS_API),
             *registry.parse_reference("statscore", "soccer", STATSCORE)]
    yield registry.build(found)
    set_reference({})


def test_one_canonical_team_per_real_team_with_every_provider_id(teams) -> None:
    assert len(teams) == 4
    united = next(t for t in teams if t.provider_ids.get("apisports") == "33")
    assert united.provider_ids == {"sportradar": "sr:competitor:35", "apisports": "33", "theoddsapi": "par_01",
                                   "statscore": "1001"}
    assert (united.name, united.short_name, united.abbreviation) == ("Manchester United", "Man Utd", "MUN")
    city = next(t for t in teams if t.provider_ids.get("apisports") == "50")
    assert "sr:competitor:35" not in city.provider_ids.values(), "United and City never share a team"
    assert united.id != city.id
    again = registry.build(reversed([m for t in teams for m in t.members]))
    assert {t.id for t in again} == {t.id for t in teams}, "ids do not depend on the order teams arrive in"


def test_registry_spellings_resolve_names_no_hand_list_knows(teams) -> None:
    assert team_key("soccer", "MAC") != team_key("soccer", "Manchester City")
    set_reference(registry.spellings(teams))
    assert team_key("soccer", "MCI") == team_key("soccer", "Manchester City")
    assert team_key("soccer", "MAC") == team_key("soccer", "Manchester City")  # API-Sports' own code
    assert team_key("soccer", "Wolves") == team_key("soccer", "Wolverhampton Wanderers")


def test_an_unknown_provider_format_is_an_error() -> None:
    with pytest.raises(NormalizationError, match="no normalizer is registered"):
        registry.parse_reference("nobody", "soccer", [])


async def test_the_worker_registry_follows_reference_records_and_tombstones() -> None:
    """What the worker does with reference.teams records: the latest per key, tombstones drop a team."""
    def record(provider: str, team_id: str, name: str, short: str | None = None) -> tuple[bytes, bytes]:
        team = TeamReference(provider=provider, sport="soccer", team_id=team_id, name=name, short_name=short)
        return team.entity_key.encode(), team.to_json()

    cardiff = record("sportradar", "sr:competitor:1", "Cardiff City", "Dinas Caerdydd")
    follower = ReferenceTeams()
    assert team_key("soccer", "Dinas Caerdydd") != team_key("soccer", "Cardiff City")
    assert follower.update(*cardiff)
    assert not follower.update(*cardiff), "the same record again changes nothing"
    assert not follower.update(b"sportradar|soccer|x", b"{not json"), "a malformed record is skipped"
    assert follower.update(*record("theoddsapi", "par_1", "Cardiff City"))
    assert await follower.apply() == 1
    assert team_key("soccer", "Dinas Caerdydd") == team_key("soccer", "Cardiff City")
    info = registry.team_info("soccer", "Dinas Caerdydd")
    assert info is not None
    assert (info["name"], info["shortName"]) == ("Cardiff City", "Dinas Caerdydd")
    assert follower.update(cardiff[0], None), "a tombstone drops the provider's team"
    await follower.apply()
    assert team_key("soccer", "Dinas Caerdydd") != team_key("soccer", "Cardiff City")


def test_review_reports_doubt_not_every_first_sighting() -> None:
    """canonical.unmatched is for doubt: a first sighting whose teams every team list knows is not reported;
    a team name nothing knows is, naming it (it may be another provider's fixture no one can match)."""
    registry.set_source("topic", [
        registry.ReferenceTeam("sportradar", "soccer", "sr:competitor:1", "Cardiff City", "Dinas Caerdydd"),
        registry.ReferenceTeam("sportradar", "soccer", "sr:competitor:2", "Arsenal", "Arsenal", "ARS"),
    ])
    start = 1_700_000_000_000

    def first(home: str, away: str, provider: str = "theoddsapi") -> Resolution:
        candidate = Candidate(provider, f"{home}-{away}", "soccer", "EPL", home, away, start)
        route = route_key({"type": "event", "sport": "soccer", "homeTeam": home, "awayTeam": away})
        return resolve(Fixtures(), route, candidate, tolerance_ms=7_200_000)

    assert first("Cardiff City", "Arsenal").review is None
    assert first("Dinas Caerdydd", "ARS", "sportradar").review is None
    review = first("Dinas Abertawe", "Arsenal").review
    assert review is not None
    assert review["reason"] == "unmatched"
    assert review["unknownTeams"] == ["Dinas Abertawe"]
    registry.reset()
    assert first("Cardiff City", "Arsenal").review is not None, "without team lists a new name stays reported"


def test_grouping_compares_only_names_that_can_match_and_still_finds_short_forms() -> None:
    """Teams are compared within blocks (a word's first letters, an acronym's initials): an acronym, a short
    form and a fuzzy spelling still find their team; other teams of the sport are never compared."""
    found = registry.build([
        registry.ReferenceTeam("sportradar", "soccer", "1", "Paris Saint-Germain", "PSG", "PSG"),
        registry.ReferenceTeam("apisports", "soccer", "85", "PSG"),
        registry.ReferenceTeam("sportradar", "soccer", "2", "Borussia Monchengladbach", "Gladbach", "BMG"),
        registry.ReferenceTeam("statscore", "soccer", "3", "Borussia M'gladbach"),
        registry.ReferenceTeam("theoddsapi", "soccer", "4", "Wolverhampton Wanderers"),
        registry.ReferenceTeam("apisports", "soccer", "39", "Wolves"),
        registry.ReferenceTeam("statscore", "soccer", "5", "Tottenham Hotspurs"),
        registry.ReferenceTeam("theoddsapi", "soccer", "6", "Tottenham Hotspur"),
    ])
    groups = sorted(sorted(m.provider for m in t.members) for t in found)
    assert groups == [["apisports", "sportradar"], ["apisports", "theoddsapi"], ["sportradar", "statscore"],
                      ["statscore", "theoddsapi"]]


async def test_waiting_for_the_team_lists_is_bounded() -> None:
    follower = ReferenceTeams()
    assert not await follower.wait_loaded(0.05), "matching goes on by names when the lists are late"
    follower.loaded.set()
    assert await follower.wait_loaded(0.05)


def test_a_short_name_two_teams_go_by_names_neither() -> None:
    """A provider listing two clubs by one short name ("United"): that spelling resolves to no team."""
    teams = registry.build([
        registry.ReferenceTeam("statscore", "soccer", "1", "Manchester United", "United", "MUN"),
        registry.ReferenceTeam("statscore", "soccer", "2", "Newcastle United", "United", "NEW"),
    ])
    table = registry.spellings(teams)["soccer"]
    assert "United" not in table
    assert table["MUN"] == "Manchester United"
    assert table["Newcastle United"] == "Newcastle United"


def test_a_short_form_joins_its_own_team_not_a_longer_look_alike_listed_first() -> None:
    """Every provider lists "Tottenham Hotspur"; each also lists a look-alike with one more word of its own
    ("Tottenham Hotspur 1b2c", a team only it has). Grouping longest names first once put a provider's plain
    name into another provider's look-alike group (the short form scores 0.85 against it, and the plain
    name's own group did not exist yet): fixtures spelled "Tottenham Hotspur" then showed the look-alike."""
    providers = ("apisports", "sportradar", "statscore", "theoddsapi")
    listed = [registry.ReferenceTeam(p, "soccer", f"{p}-plain", "Tottenham Hotspur") for p in providers]
    listed += [registry.ReferenceTeam(p, "soccer", f"{p}-{i}", f"Tottenham Hotspur {i}f{i}a") for i, p in
               enumerate(providers)]
    for order in (listed, list(reversed(listed))):
        teams = registry.build(order)
        plain = [t for t in teams if t.name == "Tottenham Hotspur"]
        assert len(plain) == 1
        assert sorted(plain[0].provider_ids) == sorted(providers)
        assert all(len(t.members) == 1 for t in teams if t is not plain[0]), "look-alikes stay apart"
        assert registry.spellings(teams)["soccer"]["Tottenham Hotspur"] == "Tottenham Hotspur"


def test_a_short_form_two_look_alikes_could_be_joins_neither() -> None:
    """One provider's "Tottenham" could be the short form of two different teams two others list: it is
    neither (a guess would attach one provider's fixtures to the wrong team)."""
    teams = registry.build([
        registry.ReferenceTeam("apisports", "soccer", "1", "Tottenham"),
        registry.ReferenceTeam("sportradar", "soccer", "2", "Tottenham Hotspur Alpha"),
        registry.ReferenceTeam("theoddsapi", "soccer", "3", "Tottenham Hotspur Beta"),
    ])
    assert sorted(len(t.members) for t in teams) == [1, 1, 1]


def test_teams_the_lists_tell_apart_never_meet_in_one_fixture() -> None:
    """Tottenham v Newcastle and, the same hour, Newcastle X v Tottenham X, where the providers' lists name
    "Tottenham Hotspur X" and "Newcastle United X" as teams of their own: two games. By names alone each plain
    name is a short form of its look-alike (0.85 a side, the pair read as home and away swapped), which once
    joined the second game's records onto the first fixture, shown under the look-alikes' names."""
    listed = [registry.ReferenceTeam(p, "soccer", f"{p}-{n}", n) for p in ("apisports", "theoddsapi")
              for n in ("Tottenham Hotspur", "Newcastle United", "Tottenham Hotspur X1", "Newcastle United X1")]
    registry.set_source("topic", listed)
    try:
        fixtures = Fixtures()

        def seen(provider: str, pid: str, home: str, away: str) -> Resolution:
            record = {"type": "event", "sport": "soccer", "homeTeam": home, "awayTeam": away}
            return resolve(fixtures, route_key(record), Candidate(provider, pid, "soccer", "EPL", home, away,
                                                                  1_700_000_000_000), tolerance_ms=7_200_000)

        first = seen("apisports", "1", "Newcastle United X1", "Tottenham Hotspur X1")
        second = seen("theoddsapi", "a", "Tottenham Hotspur", "Newcastle United")
        assert second.fixture is not first.fixture
        assert (second.fixture.home, second.fixture.away) == ("Tottenham Hotspur", "Newcastle United")
        assert seen("theoddsapi", "b", "Newcastle United X1", "Tottenham Hotspur X1").fixture is first.fixture
    finally:
        registry.reset()
