"""`sportsflow resolve` over recorded-style payloads of three providers for the same real fixtures.

Each provider's payload is one of its recorded responses (tests/fixtures) with the fixture, teams
and times replaced, spelled as that provider spells them; it goes through the provider's own
normalizer, and the mixed JSON lines through the `sportsflow resolve` command, as an operator would.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from schemas.providers import normalize
from schemas.reference import TeamReference

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _load(path: str) -> Any:
    return json.loads((FIXTURES / path).read_text())


def apisports(fid: int, start: str, league: str, home: str, away: str, goals: tuple[int, int]) -> list[Any]:
    page = _load("apisports/football_fixtures_live_all_2024-02-28.json")
    item = copy.deepcopy(page["response"][0])
    item["fixture"] |= {"id": fid, "date": start.replace("Z", "+00:00")}
    item["league"]["name"] = league
    item["teams"]["home"] |= {"id": fid * 10, "name": home}
    item["teams"]["away"] |= {"id": fid * 10 + 1, "name": away}
    item["goals"] = {"home": goals[0], "away": goals[1]}
    page["response"] = [item]
    return normalize("apisports", "football-fixtures", page, {"live": "all"})


def sportradar(sid: int, start: str, competition: str, home: str, away: str, goals: tuple[int, int]) -> list[Any]:
    summary = _load("sportradar/sportsapi_soccer_v4_sport_event_summary_live.json")
    event = summary["sport_event"]
    event["id"] = f"sr:sport_event:{sid}"
    event["start_time"] = start.replace("Z", "+00:00")
    event["sport_event_context"]["competition"]["name"] = competition
    event["competitors"][0] |= {"id": f"sr:competitor:{sid}1", "name": home}
    event["competitors"][1] |= {"id": f"sr:competitor:{sid}2", "name": away}
    summary["sport_event_status"] |= {"home_score": goals[0], "away_score": goals[1]}
    return normalize("sportradar", "soccer-summary", summary, {})


def theoddsapi(eid: str, start: str, key: str, title: str, home: str, away: str, goals: tuple[int, int]
               ) -> list[Any]:
    item = copy.deepcopy(_load("theoddsapi/scores_basketball_nba_daysFrom1_docs.json")[0])
    item |= {"id": eid, "sport_key": key, "sport_title": title, "commence_time": start, "completed": False,
             "home_team": home, "away_team": away,
             "scores": [{"name": home, "score": str(goals[0])}, {"name": away, "score": str(goals[1])}]}
    return normalize("theoddsapi", "scores", [item], {"daysFrom": "1"})


BUNDESLIGA, LALIGA, SERIE_A = "soccer_germany_bundesliga", "soccer_spain_la_liga", "soccer_italy_serie_a"
FA_CUP = "soccer_fa_cup"
# label -> each provider's view of one real fixture
GAMES: dict[str, list[Any]] = {
    "Bayern v Dortmund 2024-11-30": [
        *apisports(1224001, "2024-11-30T17:30:00Z", "Bundesliga", "Bayern München", "Borussia Dortmund", (1, 1)),
        *sportradar(50851001, "2024-11-30T17:30:00Z", "Bundesliga", "FC Bayern Munich", "Dortmund", (1, 1)),
        *theoddsapi("bd01", "2024-11-30T17:30:00Z", BUNDESLIGA, "Bundesliga - Germany", "Bayern Munich",
                    "Borussia Dortmund", (1, 1)),
    ],
    # Same day, same clubs' reserve sides (3. Liga): never the same fixture.
    "Bayern II v Dortmund II 2024-11-30": [
        *apisports(1224002, "2024-11-30T12:00:00Z", "3. Liga", "Bayern München II", "Borussia Dortmund II",
                   (0, 2)),
        *sportradar(50851002, "2024-11-30T12:00:00Z", "3. Liga", "FC Bayern Munich II", "Borussia Dortmund II",
                    (0, 2)),
    ],
    "Atletico v Real 2024-09-29": [
        *apisports(1224003, "2024-09-29T19:00:00Z", "La Liga", "Atletico Madrid", "Real Madrid", (1, 1)),
        *sportradar(50851003, "2024-09-29T19:00:00Z", "LaLiga", "Atletico de Madrid", "Real Madrid CF", (1, 1)),
        *theoddsapi("ar01", "2024-09-29T19:00:00Z", LALIGA, "La Liga - Spain", "Atlético Madrid", "Real Madrid",
                    (1, 1)),
    ],
    "Inter v Milan 2024-09-22": [
        *apisports(1224004, "2024-09-22T18:45:00Z", "Serie A", "Inter", "AC Milan", (1, 2)),
        *sportradar(50851004, "2024-09-22T18:45:00Z", "Serie A", "FC Internazionale Milano", "AC Milan", (1, 2)),
        *theoddsapi("im01", "2024-09-22T18:45:00Z", SERIE_A, "Serie A - Italy", "Inter Milan", "AC Milan", (1, 2)),
    ],
    # The FA Cup final at Wembley (neutral): one provider lists the teams the other way round.
    "Man City v Man United 2024-05-25": [
        *apisports(1224005, "2024-05-25T14:00:00Z", "FA Cup", "Manchester City", "Manchester United", (1, 2)),
        *sportradar(50851005, "2024-05-25T14:00:00Z", "FA Cup", "Manchester City", "Manchester United", (1, 2)),
        *theoddsapi("mm01", "2024-05-25T14:00:00Z", FA_CUP, "FA Cup", "Manchester United", "Manchester City",
                    (2, 1)),
    ],
    "Man City W v Man United W 2024-05-25": [
        *apisports(1224006, "2024-05-25T14:00:00Z", "FA WSL", "Manchester City W", "Manchester United W", (3, 1)),
    ],
}


def run_resolve(tmp_path: Path, *extra: str) -> tuple[list[dict[str, Any]], str]:
    lines = tmp_path / "canonical.jsonl"
    lines.write_bytes(b"".join(r.to_json() + b"\n" for game in GAMES.values() for r in game))
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "resolve", *extra, str(lines)],
                          capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return [orjson.loads(line) for line in done.stdout.splitlines()], done.stderr.decode()


def test_one_canonical_id_per_real_fixture_and_look_alikes_apart(tmp_path: Path) -> None:
    out, summary = run_resolve(tmp_path)
    events = [r for r in out if r["type"] == "event"]
    assert len(events) == sum(len(g) for g in GAMES.values())
    ids: dict[str, set[str]] = {}
    by_pid = {(r["provider"], r["providerEventId"]): r for r in events}
    for label, game in GAMES.items():
        ids[label] = {by_pid[(r.provider, r.provider_event_id)]["id"] for r in game}
    assert all(len(found) == 1 for found in ids.values()), ids
    assert len({next(iter(found)) for found in ids.values()}) == len(GAMES), ids
    assert f"{len(GAMES)} fixtures" in summary


def test_canonical_names_and_orientation_whoever_reports(tmp_path: Path) -> None:
    out, _ = run_resolve(tmp_path)
    final = [r for r in out if r["type"] == "event" and r["startTime"].startswith("2024-05-25T14")
             and "W" not in r["homeTeam"].split()]
    assert {(r["homeTeam"], r["awayTeam"], r["score"]["home"], r["score"]["away"]) for r in final} == {
        ("Manchester City", "Manchester United", 1, 2)}
    odds_api = next(r for r in final if r["provider"] == "theoddsapi")
    assert odds_api["providerNames"]["theoddsapi"]["homeTeam"] == "Manchester City"  # in the fixture's orientation
    bayern = [r for r in out if r["type"] == "event" and r["startTime"].startswith("2024-11-30T17")]
    assert {r["homeTeam"] for r in bayern} == {"Bayern München"}
    assert {r["providerNames"]["theoddsapi"]["homeTeam"] for r in bayern if "theoddsapi" in r["providerNames"]} == {
        "Bayern Munich"}


def test_review_records_list_the_candidates(tmp_path: Path) -> None:
    out, _ = run_resolve(tmp_path)
    reviews = [r for r in out if r["type"] == "resolution_review"]
    women = next(r for r in reviews if r["homeTeam"] == "Manchester City W")
    assert women["reason"] in {"unmatched", "below_threshold"}
    assert all(c["confidence"] < 0.75 for c in women["candidates"])


def test_a_reference_file_pins_a_spelling(tmp_path: Path) -> None:
    pins = tmp_path / "pins.json"
    pins.write_text(json.dumps({"soccer": {"Bayern München": "FC Bayern Munich", "Bayern Munich": "FC Bayern Munich"}}))
    out, _ = run_resolve(tmp_path, "--reference", str(pins))
    bayern = [r for r in out if r["type"] == "event" and r["startTime"].startswith("2024-11-30T17")]
    assert {r["homeTeam"] for r in bayern} == {"FC Bayern Munich"}
    assert len({r["id"] for r in bayern}) == 1


def test_bad_lines_are_reported_and_the_rest_resolved(tmp_path: Path) -> None:
    lines = tmp_path / "mixed.jsonl"
    good = GAMES["Inter v Milan 2024-09-22"][0].to_json()
    lines.write_bytes(good + b"\n{not json\n" + b'{"type": "event"}\n')
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "resolve", str(lines)], capture_output=True,
                          timeout=120, check=False)
    assert done.returncode == 1
    assert len(done.stdout.splitlines()) == 2  # the record and its review
    assert b"mixed.jsonl:2: not a canonical record" in done.stderr
    assert b"mixed.jsonl:3: not a canonical record" in done.stderr


def test_providers_disagreeing_on_a_score_are_reported(tmp_path: Path) -> None:
    early = apisports(1224010, "2024-09-22T18:45:00Z", "Serie A", "Inter", "AC Milan", (1, 1))[0]
    other = theoddsapi("im10", "2024-09-22T18:45:00Z", SERIE_A, "Serie A - Italy", "Inter Milan", "AC Milan",
                       (1, 2))[0]
    t0 = datetime(2024, 9, 22, 19, 30, tzinfo=UTC)
    early = early.model_copy(update={"timestamp": t0})
    other = other.model_copy(update={"timestamp": t0 + timedelta(seconds=1)})
    later = early.model_copy(update={"timestamp": t0 + timedelta(seconds=20)})  # past the 15 s grace
    lines = tmp_path / "disagree.jsonl"
    lines.write_bytes(b"".join(r.to_json() + b"\n" for r in (early, other, later)))
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "resolve", str(lines)], capture_output=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()
    found = [r for r in map(orjson.loads, done.stdout.splitlines()) if r["type"] == "discrepancy"]
    assert [(r["field"], r["state"]) for r in found] == [("score", "open")]
    assert found[0]["values"] == {"apisports": {"home": 1, "away": 1}, "theoddsapi": {"home": 1, "away": 2}}


def test_provider_team_lists_as_reference_feed_the_registry(tmp_path: Path) -> None:
    """A code only one provider's team list explains ("MAC") resolves to that team's fixture."""
    reference = tmp_path / "teams.json"
    reference.write_text(json.dumps([
        {"provider": "apisports", "sport": "soccer", "payload": {"response": [
            {"team": {"id": 50, "name": "Manchester City", "code": "MAC"}},
            {"team": {"id": 33, "name": "Manchester United", "code": "MUN"}}]}},
        {"provider": "theoddsapi", "sport": "soccer", "payload": [
            {"full_name": "Manchester City", "id": "par_02"}, {"full_name": "Manchester United", "id": "par_01"}]},
    ]))
    final = [copy.deepcopy(r) for r in GAMES["Man City v Man United 2024-05-25"]]
    coded = final[0].model_copy(update={"provider": "sportsdataio", "provider_event_id": "sd-1", "home_team": "MAC",
                                        "away_team": "MUN"})
    lines = tmp_path / "coded.jsonl"
    lines.write_bytes(b"".join(r.to_json() + b"\n" for r in (*final, coded)))
    for extra, expected in (((), 2), (("--reference", str(reference)), 1)):
        done = subprocess.run([sys.executable, "-m", "pipeline.cli", "resolve", *extra, str(lines)],
                              capture_output=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr.decode()
        events = [r for r in map(orjson.loads, done.stdout.splitlines()) if r["type"] == "event"]
        assert len({e["id"] for e in events}) == expected


def test_a_dump_of_the_reference_topic_feeds_the_registry(tmp_path: Path) -> None:
    """reference.teams records as JSON lines (what a dump of the topic gives) give the worker's registry."""
    dump = tmp_path / "reference.teams.jsonl"
    dump.write_bytes(b"".join(TeamReference(provider=p, sport="soccer", team_id=i, name=n, abbreviation=c).to_json()
                              + b"\n" for p, i, n, c in (("apisports", "50", "Manchester City", "MAC"),
                                                         ("apisports", "33", "Manchester United", "MUN"),
                                                         ("theoddsapi", "par_02", "Manchester City", None))))
    final = [copy.deepcopy(r) for r in GAMES["Man City v Man United 2024-05-25"]]
    coded = final[0].model_copy(update={"provider": "sportsdataio", "provider_event_id": "sd-1", "home_team": "MAC",
                                        "away_team": "MUN"})
    lines = tmp_path / "coded.jsonl"
    lines.write_bytes(b"".join(r.to_json() + b"\n" for r in (*final, coded)))
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "resolve", "--reference", str(dump), str(lines)],
                          capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()
    events = [r for r in map(orjson.loads, done.stdout.splitlines()) if r["type"] == "event"]
    assert len({e["id"] for e in events}) == 1
    assert events[-1]["homeTeamInfo"]["abbreviation"] == "MAC"
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"type": "team_reference", "provider": "x"}\n')
    refused = subprocess.run([sys.executable, "-m", "pipeline.cli", "resolve", "--reference", str(bad), str(lines)],
                             capture_output=True, timeout=120, check=False)
    assert refused.returncode != 0
    assert "not reference.teams records" in refused.stderr.decode()
