"""The accuracy harness's world: made-up teams, several providers spelling them their own way, and the
ground truth recorded from what each provider served.

Providers (each a real connector polling the simulator's real paths):
- The Odds API: `scores` (score and status, three sports) and `odds` (an odds-only feed), every tick;
  the world's own names.
- API-Sports: football `/fixtures` (live and by date) and basketball `/games`, every `apisports_every`
  ticks (its own cadence, slower); its own ids, soccer clubs spelled "FC <name>", basketball teams in
  capitals, and its own status codes (1H/2H, Q1-Q4, FT) and fields (elapsed minutes, quarter timers).
- STATSCORE (with `--push`): soccer and basketball incidents pushed over RabbitMQ to a queue of this run,
  read by the real AMQP consumer; names with accents, the match clock in seconds, its own status ids.
A fixture both serve must come out as ONE canonical event; the same two teams meet twice in a day
(every fifth fixture repeats an earlier one's teams 90 minutes later, inside the resolver's start-time
tolerance), which must stay two.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
from aiohttp import web

from benchmarks.accuracy_truth import Truth
from connectors.simulator import apisports as sim_apisports
from connectors.simulator import statscore as sim_statscore
from connectors.simulator.world import Match, World, made_up_name, respell

APISPORTS_SPORTS = {"soccer_epl": "football", "basketball_nba": "basketball"}
STATSCORE_SPORTS = frozenset({"soccer_epl", "basketball_nba"})
def team_name(seed: int, n: int, side: str) -> str:
    """A pronounceable name no other fixture (of this run, another run or another session) shares."""
    return made_up_name(f"{seed}|{n}|{side}")


def make_world(matches: int, ticks: int, seed: int) -> World:
    world = World(seed=seed, matches=matches, live_ticks=ticks)
    done: list[Match] = []
    for n, match in enumerate(world.matches.values()):
        previous = next((m for m in reversed(done) if m.sport_key == match.sport_key), None)
        if n % 5 == 4 and previous is not None:
            # The same teams twice in a day: a second fixture 90 minutes after the first (inside the
            # resolver's start-time tolerance; it stays scheduled, its odds move): two canonical ids, never one.
            match.home, match.away = previous.home, previous.away
            match.commence = previous.commence + timedelta(minutes=90)
        else:
            # Otherwise made-up teams of this run: resolution matches names fuzzily, so a real club's name
            # with a suffix could be matched to another session's fixture of that club on a shared broker.
            match.home, match.away = team_name(seed, n, "home"), team_name(seed, n, "away")
            match.commence = world.now + timedelta(seconds=3 * (n % 8))  # staggered over 8 ticks
        done.append(match)
    for match in world.matches.values():
        if match.sport_key == "soccer_epl":
            respell("apisports", {name: f"FC {name}" for name in (match.home, match.away)})
        elif match.sport_key == "basketball_nba":
            respell("apisports", {name: name.upper() for name in (match.home, match.away)})
        if match.sport_key in STATSCORE_SPORTS:
            respell("statscore", {name: _accented(name) for name in (match.home, match.away)})
    return world


def _accented(name: str) -> str:
    """STATSCORE's spelling: the local one, with its accents ("Bakodu" -> "Báködu")."""
    return name.replace("a", "á", 1).replace("o", "ö", 1).replace("e", "é", 1)


def provider_ids(world: World) -> dict[tuple[str, str], str]:
    """(provider, that provider's event id) -> the world's match id."""
    ids: dict[tuple[str, str], str] = {}
    for match in world.matches.values():
        ids[("theoddsapi", match.id)] = match.id
        sport = APISPORTS_SPORTS.get(match.sport_key)
        if sport is not None:
            ids[("apisports", f"{sport}:{sim_apisports.entity_id(match.id)}")] = match.id
        if match.sport_key in STATSCORE_SPORTS:
            ids[("statscore", str(sim_statscore.event_id(match)))] = match.id
    return ids


def raw_keys(ids: dict[tuple[str, str], str]) -> list[str]:
    """The raw records' keys of every provider's fixtures (a replay selects them)."""
    return sorted({pid for _provider, pid in ids})


_APISPORTS_STATUS = {"NS": "scheduled", "FT": "final"}  # anything else served here is in play


def served_apisports(truth: Truth, body: dict[str, Any], sport: str) -> None:
    for item in body.get("response") or []:
        info = item.get("fixture", item)
        match = truth.ids.get(("apisports", f"{sport}:{info['id']}"))
        if match is None:
            continue
        if sport == "football":
            home, away = item["goals"]["home"], item["goals"]["away"]
        else:
            home, away = item["scores"]["home"]["total"], item["scores"]["away"]["total"]
        if home is None or away is None:
            continue
        status = _APISPORTS_STATUS.get(info["status"]["short"], "live")
        truth.served_event(match, (int(home), int(away), status), f"apisports/{sport}")


_STATSCORE_STATUS = {"scheduled": "scheduled", "finished": "final"}


def served_statscore(truth: Truth, message: dict[str, Any]) -> None:
    """One incident message STATSCORE pushed (integer results; participant counter 1 is the home side)."""
    event = message["data"]["event"]
    match = truth.ids.get(("statscore", str(event["id"])))
    by_counter = {p["counter"]: p["results"][0]["value"] for p in event["participants"]}
    if match is None or by_counter.get(1) is None or by_counter.get(2) is None:
        return
    status = _STATSCORE_STATUS.get(event["status_type"], "live")
    truth.served_event(match, (int(by_counter[1]), int(by_counter[2]), status), "statscore/incidents")


class Recorder:
    """aiohttp middleware: every successful scores/odds/fixtures response of any provider is ground truth."""

    def __init__(self, truth: Truth) -> None:
        self.truth = truth
        self.responses: dict[str, int] = {}

    def pushed(self, message: dict[str, Any]) -> None:
        served_statscore(self.truth, message)
        self.responses["incidents"] = self.responses.get("incidents", 0) + 1

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        response: web.StreamResponse = await handler(request)
        if isinstance(response, web.Response) and response.status == 200 and response.body is not None:
            try:
                body = orjson.loads(bytes(response.body))  # type: ignore[arg-type]
            except orjson.JSONDecodeError:
                return response  # a malformed-body fault: the connector rejects it, nothing was served
            path = request.path
            if path.endswith("/scores"):
                self.truth.served_scores(body)
            elif path.endswith("/odds"):
                self.truth.served_odds(body)
            elif path == "/fixtures" and not body.get("errors"):
                served_apisports(self.truth, body, "football")
            elif path == "/games" and not body.get("errors"):
                served_apisports(self.truth, body, "basketball")
            else:
                return response
            self.responses[path.rsplit("/", 1)[-1]] = self.responses.get(path.rsplit("/", 1)[-1], 0) + 1
        return response
