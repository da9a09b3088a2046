"""STATSCORE LiveScore API v2: REST events (`events`) and push/feed messages (`incidents`).

Feeds:
- `events`: the REST envelope `{"api": {"timestamp", "data": ...}}` of `events.show` (`data.competition`
  -> `season` -> `stage` -> `group` -> `event`, singular) or `livescore.index` (`data.competitions[]` ->
  `seasons[]` -> `stages[]` -> `groups[]` -> `events[]`); both nestings are walked. One Event per event.
  A filter that matches nothing (`status_type=live` between matches) answers `competitions: []`, which is
  no events, not an error: the vendor's client reads `data['competitions'] ?? []` (statscore/apiclient
  `CompetitionsService::getAll`, which `EventsService` extends).
- `incidents`: one RabbitMQ push message `{id, type, ut, data: {incident?, event}}`, or the `feed.show`
  envelope whose `api.data` is a list of such messages. Each message carries the whole event after the
  change, so it becomes one Event; the incident itself (a shot, a goal) has no canonical record.

Format facts this module relies on:
- `start_date` is "YYYY-MM-DD HH:MM" without a zone; read as UTC. Source: none says it outright; the
  vendor's samples (statscore/apiclient test assets) show it with no offset next to epoch `ut` values.
  To confirm with STATSCORE.
- `ut` (event, message) and `api.timestamp` are epoch seconds (vendor samples, `feed.show` messages).
- Statuses: `status_id` from `GET /v2/statuses` (statuses.index) and `GET /v2/sports/{id}` (sports.show),
  `status_type` one of scheduled, live, finished, cancelled, interrupted, other, deleted (same sources).
- Home/away is `participants[].counter` 1/2. `inverted_participants="yes"` events are refused: whether the
  flag swaps home/away or only the display order is undocumented in our sources, and guessing would
  publish wrong sides.
- Scores are result id 2 ("Result"); REST values are strings ("" when empty), push values ints or null.
- Status: `status_id` through `STATUSES` (built from `GET /v2/statuses` and `GET /v2/sports/1`), else
  `status_type` through `STATUS_TYPES`; "No information" (type other) and unknown pairs raise.
- Period is the status name while in play; `clock_time` is seconds played in the current period.
- League: the competition's name (REST); push messages name only `competition_id`, so they take the
  `league` request param, else the id as text.
- Events deleted upstream (`action="delete"`, `item_status`/`status_type` "deleted") yield nothing.
- `ut` fields are epoch seconds: the message/response time is the record's `timestamp`, the event's
  own `ut` its `source_timestamp`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from schemas.canonical import CanonicalRecord, Event, Score, Sport, Status
from schemas.envelope import RECEIVED_AT_PARAM
from schemas.errors import NormalizationError
from schemas.providers import feed, reference
from schemas.providers._common import provisional_event_id, team_reference, validate
from schemas.reference import TeamReference
from schemas.timeutil import parse_iso

PROVIDER = "statscore"
RESULT_ID = 2

# status_id -> (name, canonical status). Sources: statuses.index subset (17 of 338), sports.show for
# basketball (quarters and breaks), and the tennis livescore sample (135).
STATUSES: Mapping[int, tuple[str, Status]] = {
    1: ("Not started", Status.SCHEDULED),
    2: ("Interrupted", Status.SUSPENDED),
    3: ("Cancelled", Status.CANCELLED),
    5: ("Postponed", Status.POSTPONED),
    6: ("Start delayed", Status.DELAYED),
    7: ("Abandoned", Status.ABANDONED),
    8: ("1st quarter", Status.LIVE),
    9: ("Halftime", Status.HALFTIME),
    10: ("2nd quarter", Status.LIVE),
    11: ("Finished", Status.FINAL),
    12: ("Finished awarded win", Status.FINAL),
    13: ("Finished after penalties", Status.FINAL),
    14: ("Finished after extratime", Status.FINAL),
    16: ("Penalties", Status.LIVE),
    19: ("3rd quarter", Status.LIVE),
    33: ("1st half", Status.LIVE),
    34: ("2nd half", Status.LIVE),
    76: ("Retired", Status.FINAL),
    77: ("Walkover", Status.FINAL),
    135: ("3rd set", Status.LIVE),
    212: ("Break after 1st quarter", Status.LIVE),
    213: ("Break after 2nd quarter", Status.HALFTIME),
    214: ("Break after 3rd quarter", Status.LIVE),
}
# Known statuses with no truthful canonical equivalent.
UNMAPPABLE_STATUSES: Mapping[int, str] = {4: "No information"}
# status_type, for status ids not in STATUSES ("other" and "deleted" have no canonical equivalent).
STATUS_TYPES: Mapping[str, Status] = {
    "scheduled": Status.SCHEDULED,
    "live": Status.LIVE,
    "finished": Status.FINAL,
    "cancelled": Status.CANCELLED,
    "interrupted": Status.SUSPENDED,
}
# Result ids (sports.show results for basketball, tennis events); only RESULT_ID feeds the score.
RESULTS: Mapping[int, str] = {
    2: "Result", 3: "Regular time", 4: "First half", 5: "Second half", 43: "First set", 44: "Second set",
    45: "Third set", 46: "Fourth set", 47: "Fifth set", 50: "First quarter", 51: "Second quarter",
    52: "Third quarter", 53: "Fourth quarter", 104: "Overtime", 115: "Current game points",
    116: "1st set tb points", 117: "2nd set tb points", 118: "3rd set tb points", 119: "4th set tb points",
    120: "5th set tb pts", 411: "Winner", 412: "Progress", 627: "S.tiebreak points", 702: "First overtime",
    703: "Second overtime", 704: "Third overtime", 705: "Fourth overtime", 715: "Fifth overtime",
}
SPORTS: Mapping[int, Sport] = {1: Sport.BASKETBALL, 4: Sport.TENNIS, 5: Sport.SOCCER}
SPORT_NAMES: Mapping[str, Sport] = {
    "basketball": Sport.BASKETBALL, "tennis": Sport.TENNIS, "soccer": Sport.SOCCER,
    "ice hockey": Sport.ICEHOCKEY, "handball": Sport.HANDBALL, "volleyball": Sport.VOLLEYBALL,
    "baseball": Sport.BASEBALL, "american football": Sport.AMERICANFOOTBALL, "cricket": Sport.CRICKET,
}
IN_PLAY = frozenset({Status.LIVE, Status.HALFTIME, Status.SUSPENDED})
MESSAGE_TYPES = frozenset({"incident", "event"})
NESTING = (("season", "seasons"), ("stage", "stages"), ("group", "groups"), ("event", "events"))


class _Raw(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class RawResult(_Raw):
    id: int
    value: int | str | None = None


class RawParticipant(_Raw):
    id: int
    counter: int
    name: str
    results: list[RawResult] = []


class RawEvent(_Raw):
    id: int
    action: str | None = None
    start_date: str
    status_id: int
    status_name: str | None = None
    status_type: str | None = None
    sport_id: int
    sport_name: str | None = None
    competition_id: int | None = None
    clock_time: Annotated[int, Field(ge=0)] | None = None
    item_status: str | None = None
    inverted_participants: str | None = None
    ut: int | None = Field(None, ge=0)
    participants: list[RawParticipant]


class RawMessageData(_Raw):
    event: dict[str, Any] | None = None


class RawMessage(_Raw):
    id: int
    type: str
    ut: int = Field(ge=0)
    data: RawMessageData


class RawApi(_Raw):
    timestamp: int | None = Field(None, ge=0)
    data: Any


class RawEnvelope(_Raw):
    api: RawApi


def status_of(status_id: int, status_type: str | None, feed_slug: str, path: str = "$") -> Status:
    """The canonical status for a status id (or, for ids missing from STATUSES, its type)."""
    known = STATUSES.get(status_id)
    if known is not None:
        return known[1]
    if status_id in UNMAPPABLE_STATUSES:
        reason = f"status {status_id} ({UNMAPPABLE_STATUSES[status_id]}) has no canonical equivalent"
        raise NormalizationError(PROVIDER, feed_slug, reason, f"{path}.status_id")
    try:
        return STATUS_TYPES[status_type or ""]
    except KeyError:
        reason = f"unknown status {status_id} with status_type {status_type!r}"
        raise NormalizationError(PROVIDER, feed_slug, reason, f"{path}.status_type") from None


def _dict(value: Any, feed_slug: str, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise NormalizationError(PROVIDER, feed_slug, f"expected a JSON object, got {type(value).__name__}", path)
    return value


def _epoch(seconds: int | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None


@lru_cache(maxsize=4096)  # every poll repeats its events' start dates, and strptime is slow
def _parse_start(text: str) -> datetime:
    return datetime.strptime(f"{text} +0000", "%Y-%m-%d %H:%M %z")


def _start(text: str, feed_slug: str, path: str) -> datetime:
    try:
        return _parse_start(text)
    except ValueError:
        raise NormalizationError(PROVIDER, feed_slug, f"bad start_date {text!r}", f"{path}.start_date") from None


def _score(value: int | str | None, feed_slug: str, path: str) -> int | None:
    text = str(value).strip() if value is not None else ""
    if not text:
        return None
    if not text.isdigit():
        raise NormalizationError(PROVIDER, feed_slug, f"result {value!r} is not a non-negative integer", path)
    return int(text)


def _clock(seconds: int | None) -> str | None:
    return f"{seconds // 60:02d}:{seconds % 60:02d}" if seconds is not None else None


def _event(raw: Any, params: Mapping[str, str], feed_slug: str, path: str, *, league: str | None,
           at: datetime | None) -> Event | None:
    ev = validate(RawEvent, _dict(raw, feed_slug, path), PROVIDER, feed_slug, path)
    if ev.action == "delete" or "deleted" in (ev.item_status, ev.status_type):
        return None
    if ev.inverted_participants == "yes":
        reason = "inverted_participants=yes: home/away order is unconfirmed, refusing to guess"
        raise NormalizationError(PROVIDER, feed_slug, reason, f"{path}.inverted_participants")
    by_counter = {p.counter: (k, p) for k, p in enumerate(ev.participants)}
    if 1 not in by_counter or 2 not in by_counter:
        raise NormalizationError(PROVIDER, feed_slug, "participants need counters 1 and 2", f"{path}.participants")
    scores = []
    for counter in (1, 2):
        k, part = by_counter[counter]
        result = next(((j, r) for j, r in enumerate(part.results) if r.id == RESULT_ID), None)
        scores.append(
            _score(result[1].value, feed_slug, f"{path}.participants[{k}].results[{result[0]}].value")
            if result else None
        )
    status = status_of(ev.status_id, ev.status_type, feed_slug, path)
    in_play = status in IN_PLAY
    name = ev.status_name or STATUSES.get(ev.status_id, ("", status))[0] or None
    league_name = params.get("league") or league or (str(ev.competition_id) if ev.competition_id else None)
    if not league_name:
        raise NormalizationError(PROVIDER, feed_slug, "no competition name or id", f"{path}.competition_id")
    start = _start(ev.start_date, feed_slug, path)
    updated = _epoch(ev.ut)
    received = params.get(RECEIVED_AT_PARAM)
    sport = SPORTS.get(ev.sport_id) or SPORT_NAMES.get((ev.sport_name or "").lower(), Sport.OTHER)
    return Event(
        id=provisional_event_id(PROVIDER, str(ev.id)), sport=sport, league=league_name,
        home_team=by_counter[1][1].name, away_team=by_counter[2][1].name,
        score=Score(home=scores[0], away=scores[1]), status=status, start_time=start,
        period=name if in_play else None, clock=_clock(ev.clock_time) if in_play else None,
        provider=PROVIDER, provider_event_id=str(ev.id),
        timestamp=at or (parse_iso(received) if received else None) or updated or start, source_timestamp=updated,
    )


def _children(node: dict[str, Any], singular: str, plural: str, path: str) -> Iterator[tuple[Any, str]]:
    many = node.get(plural)
    if isinstance(many, list):
        yield from ((child, f"{path}.{plural}[{i}]") for i, child in enumerate(many))
    if isinstance(node.get(singular), dict):
        yield node[singular], f"{path}.{singular}"


def _walk(node: Any, depth: int, feed_slug: str, path: str) -> Iterator[tuple[Any, str]]:
    """Yield (event, path) below a competition, through seasons, stages and groups."""
    if depth == len(NESTING):
        yield node, path
        return
    singular, plural = NESTING[depth]
    for child, child_path in _children(_dict(node, feed_slug, path), singular, plural, path):
        yield from _walk(child, depth + 1, feed_slug, child_path)


@feed(PROVIDER, "events")
def normalize_events(payload: Any, params: Mapping[str, str]) -> list[CanonicalRecord]:
    """events.show / livescore.index: one event per listed event, with score, status and clock."""
    env = validate(RawEnvelope, _dict(payload, "events", "$"), PROVIDER, "events")
    if env.api.data == []:  # PHP encodes an empty result's `data` as an empty array
        return []
    data = _dict(env.api.data, "events", "$.api.data")
    if "competition" not in data and "competitions" not in data:
        raise NormalizationError(PROVIDER, "events", "no competition or competitions", "$.api.data")
    competitions = list(_children(data, "competition", "competitions", "$.api.data"))
    at = _epoch(env.api.timestamp)
    records: list[CanonicalRecord] = []
    for competition, comp_path in competitions:
        name = _dict(competition, "events", comp_path).get("name")
        for raw, path in _walk(competition, 0, "events", comp_path):
            event = _event(raw, params, "events", path, league=name if isinstance(name, str) else None, at=at)
            if event is not None:
                records.append(event)
    return records


def _message(raw: Any, params: Mapping[str, str], path: str) -> Event | None:
    msg = validate(RawMessage, _dict(raw, "incidents", path), PROVIDER, "incidents", path)
    if msg.type not in MESSAGE_TYPES:
        raise NormalizationError(PROVIDER, "incidents", f"unknown message type {msg.type!r}", f"{path}.type")
    if msg.data.event is None:
        raise NormalizationError(PROVIDER, "incidents", "message carries no event", f"{path}.data.event")
    return _event(msg.data.event, params, "incidents", f"{path}.data.event", league=None, at=_epoch(msg.ut))


@feed(PROVIDER, "incidents")
def normalize_incidents(payload: Any, params: Mapping[str, str]) -> list[CanonicalRecord]:
    """Push message (or feed.show log): the event state each incident/event message carries."""
    doc = _dict(payload, "incidents", "$")
    if "api" in doc:
        env = validate(RawEnvelope, doc, PROVIDER, "incidents")
        if not isinstance(env.api.data, list):
            raise NormalizationError(PROVIDER, "incidents", "expected a list of messages", "$.api.data")
        items = [(m, f"$.api.data[{i}]") for i, m in enumerate(env.api.data)]
    else:
        items = [(doc, "$")]
    return [event for raw, path in items if (event := _message(raw, params, path)) is not None]


@reference("statscore")
def participants(payload: Any, params: Mapping[str, str]) -> list[TeamReference]:
    """`/v2/participants`: `{api: {data: {participants: [{id, name, short_name, acronym}]}}}`."""
    return [team_reference("statscore", params, t["id"], t["name"], short_name=t.get("short_name"),
                           abbreviation=t.get("acronym"))
            for t in payload["api"]["data"]["participants"]]
