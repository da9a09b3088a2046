"""Canonical records: the one shape consumers see, whatever the source.

Wire format: JSON with camelCase names; every record has `type` and `schemaVersion`.
`Event` is a superset of the original engine's `SportsEvent`
(`id, sport, homeTeam, awayTeam, score{home,away}, status, timestamp`).

Processing fields (`epoch`, `seq`, `source`, `provenance`, `refs`, `correction`, `replacesSeq`)
are filled by the agents; normalizers leave them at their defaults.

Versions: `(epoch, seq)` names one content of one entity, forever. `epoch` is fixed when an
entity's lineage starts (first sight, after its state expired, in each replay); `seq` counts
1, 2, 3... within the epoch with no gaps, so a consumer that holds `(e, n)` and receives `(e, n+2)`
knows it missed a version, and one that receives another epoch knows a new lineage started (that
record is a complete snapshot). Within an epoch, the higher seq is newer; across epochs, the later
`timestamp` is (a backfill's versions are history, not the current state).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema, model_validator
from pydantic.alias_generators import to_camel

from schemas.timeutil import iso_z, parse_iso, to_utc

SCHEMA_VERSION = 1

UtcDateTime = Annotated[
    datetime,
    AfterValidator(to_utc),
    PlainSerializer(iso_z, return_type=str, when_used="json"),
    # The serializer's `str` would otherwise leave times as free strings in the JSON Schemas.
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class Sport(StrEnum):
    AMERICANFOOTBALL = "americanfootball"
    BASKETBALL = "basketball"
    BASEBALL = "baseball"
    ICEHOCKEY = "icehockey"
    SOCCER = "soccer"
    TENNIS = "tennis"
    MOTORSPORT = "motorsport"
    CRICKET = "cricket"
    RUGBY = "rugby"
    VOLLEYBALL = "volleyball"
    HANDBALL = "handball"
    MMA = "mma"
    OTHER = "other"


class Status(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    HALFTIME = "halftime"
    FINAL = "final"
    POSTPONED = "postponed"
    CANCELLED = "cancelled"
    SUSPENDED = "suspended"
    DELAYED = "delayed"
    ABANDONED = "abandoned"


# Statuses after which nothing may move the event back to an earlier stage.
TERMINAL_STATUSES = frozenset({Status.FINAL, Status.CANCELLED, Status.ABANDONED})


class Phase(StrEnum):
    """Where a game is, in every sport's terms (with `Event.periodNumber`)."""

    PREGAME = "pregame"
    REGULATION = "regulation"
    BREAK = "break"  # half time, between periods or before extra time
    OVERTIME = "overtime"  # overtime or extra time
    SHOOTOUT = "shootout"  # penalties, shootout
    ENDED = "ended"


class Side(StrEnum):
    HOME = "home"
    AWAY = "away"
    DRAW = "draw"
    OVER = "over"
    UNDER = "under"


class Market(StrEnum):
    MONEYLINE = "moneyline"
    SPREAD = "spread"
    TOTAL = "total"


class CanonicalModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid", use_enum_values=True
    )

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json", by_alias=True))

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class _Versioned(CanonicalModel):
    schema_version: int = SCHEMA_VERSION
    epoch: int = Field(0, ge=0, description=(
        "The lineage of this entity's versions (milliseconds since 1970 when it started); 0 before processing. "
        "A record with another epoch than the last one seen starts a new lineage: it is a complete snapshot."))
    seq: int = Field(0, ge=0, description=(
        "Version within the epoch: 1, 2, 3... with no gaps (a gap means a missed version); 0 before processing. "
        "(entity, epoch, seq) names one content forever."))
    provider: str = Field(description="The provider this version's data came from.")
    timestamp: UtcDateTime = Field(description="When the provider produced (or we received) this data.")
    source_timestamp: UtcDateTime | None = Field(None, description="The provider's own update time.")
    correction: bool = False
    replaces_seq: int | None = None
    source: str | None = Field(None, description="The provider/feed whose update produced this version.")
    provenance: dict[str, str] = Field(default_factory=dict, description=(
        "Field group -> the provider/feed its values came from. Events: `live` (score, status, period, clock) "
        "and `fixture` (league, teams, start time, sport); other records: `all`."))


class Score(CanonicalModel):
    home: int | None = Field(None, ge=0)
    away: int | None = Field(None, ge=0)


class ProviderNames(CanonicalModel):
    """How one provider spells a fixture (in the canonical home/away orientation)."""

    home_team: str | None = None
    away_team: str | None = None
    league: str | None = None


class TeamInfo(CanonicalModel):
    """A canonical team from the providers' own team lists (the registry): stable id and names."""

    id: str = Field(description="Canonical team id, the same whichever provider reports the team.")
    name: str = Field(description="Display name: the full name most providers give.")
    short_name: str | None = None
    abbreviation: str | None = Field(None, description="The code most providers give ('TOT', 'BOS').")


class Event(_Versioned):
    type: Literal["event"] = "event"
    id: str = Field(description="Canonical event id, stable across providers.")
    sport: Sport
    league: str
    home_team: str
    away_team: str
    score: Score = Field(default_factory=Score, description="Integers; both null before the start.")
    status: Status
    start_time: UtcDateTime
    period: str | None = Field(None, description="The provider's own period text ('Q1', '1st_half', '2H').")
    clock: str | None = Field(None, description="The provider's own clock text ('07:32', \"45+2'\").")
    period_number: int | None = Field(
        None, ge=0, description="1-based half/quarter/period/inning/set; overtime continues the count (NBA OT1 = 5).")
    phase: Phase | None = None
    clock_seconds: int | None = Field(
        None, ge=0, description="Soccer, rugby, handball: match time played; other timed sports: time left in the "
        "period.")
    clock_running: bool | None = Field(None, description="The clock runs (live, in regulation or overtime).")
    provider_event_id: str
    refs: dict[str, str] = Field(default_factory=dict, description="Provider -> that provider's event id.")
    provider_names: dict[str, ProviderNames] = Field(
        default_factory=dict, description="Provider -> its own spelling of the teams and league.")
    home_team_info: TeamInfo | None = Field(
        None, description="The home team in the team registry (providers' team lists), when it is known there.")
    away_team_info: TeamInfo | None = Field(None, description="The away team in the team registry, when known.")

    @property
    def entity_key(self) -> str:
        return self.id


class Outcome(CanonicalModel):
    side: str = Field(description="home, away, draw, over or under (other markets: their own names).")
    price: float = Field(gt=1.0, description="Decimal odds.")
    point: float | None = Field(None, description="Spread (home/away perspective) or total line.")


class Odds(_Versioned):
    """One market of one bookmaker. An open market has at least one priced outcome; a suspended one
    may have none (the provider pulled every price: clients must stop offering it)."""

    model_config = ConfigDict(json_schema_extra={
        "if": {"properties": {"suspended": {"const": False}}},
        "then": {"properties": {"outcomes": {"minItems": 1}}},
    })
    type: Literal["odds"] = "odds"
    event_id: str
    provider_event_id: str
    sport: Sport | None = None
    league: str | None = None
    home_team: str | None = None
    away_team: str | None = None
    bookmaker: str
    market: str
    outcomes: list[Outcome] = Field(description="The priced outcomes: at least one unless suspended.")
    suspended: bool = False

    @model_validator(mode="after")
    def _priced_unless_suspended(self) -> Odds:
        if not self.outcomes and not self.suspended:
            raise ValueError("an open market needs at least one outcome")
        return self

    @property
    def entity_key(self) -> str:
        return f"{self.event_id}|{self.bookmaker}|{self.market}"


class RaceEntry(CanonicalModel):
    position: int | None = Field(None, ge=1)
    competitor: str
    team: str | None = None
    time: str | None = Field(None, description="Finishing time of the winner or an absolute time.")
    gap: str | None = Field(None, description="Gap to the winner, e.g. '+5.123' or '+1 Lap'.")
    laps: int | None = Field(None, ge=0)
    status: str | None = None
    points: float | None = None


class RaceResult(_Versioned):
    type: Literal["race_result"] = "race_result"
    id: str
    sport: Sport = Sport.MOTORSPORT
    series: str
    season: str
    round: int | None = None
    name: str
    start_time: UtcDateTime
    status: Status
    results: list[RaceEntry] = Field(default_factory=list)
    provider_event_id: str

    @property
    def entity_key(self) -> str:
        return self.id


class FeedStatus(_Versioned):
    type: Literal["feed_status"] = "feed_status"
    feed: str
    status: Literal["up", "down"]
    reason: str | None = None

    @property
    def entity_key(self) -> str:
        return f"{self.provider}|{self.feed}"


class SettledOutcome(CanonicalModel):
    """How bets on one outcome are settled. The stake share `voidFactor` is refunded; the rest is won or
    lost by `result`, a win paying the price times `deadHeatFactor` when the place is shared."""

    side: str = Field(description="The outcome, as in the market's odds: home, away, draw, over, under or the "
                      "provider's own outcome id.")
    point: float | None = Field(None, description="Spread (home/away perspective) or total line, as in the odds.")
    result: Literal["won", "lost"]
    void_factor: float = Field(0.0, ge=0.0, le=1.0, description="Share of the stake refunded: 0, 0.5 or 1.")
    dead_heat_factor: float | None = Field(None, gt=0.0, le=1.0, description="A dead heat's winnings factor.")


class Settlement(_Versioned):
    """The result of one market of an event (`kind: result`), or a void of its bets (`kind: void`).

    A `result` lists each outcome as won or lost with its void and dead-heat factors; `certainty` says
    whether it comes from live scouting or the confirmed official result. A `void` cancels the bets placed
    on the market (in `voidFrom`..`voidTo` when given, else all of them) and refunds them in full. When the
    provider takes a result or a void back, a new version says `rolledBack: true` with `correction: true`
    and `replacesSeq`: bets settled or voided by the replaced version must be reopened. A later result or
    void of the same market is a new version again. Results and voids of a market are separate entities,
    so a void of some bets and the result of the others live side by side.
    """

    type: Literal["settlement"] = "settlement"
    kind: Literal["result", "void"]
    event_id: str
    provider_event_id: str
    sport: Sport | None = None
    league: str | None = None
    home_team: str | None = None
    away_team: str | None = None
    bookmaker: str
    market: str = Field(description="The market, named as in the odds (moneyline, spread, total or the "
                        "provider's own name).")
    specifiers: str = Field("", description="The market's line as the provider specifies it (e.g. `total=2.5`); "
                            "each line is settled on its own.")
    rolled_back: bool = Field(False, description="The provider took this result or void back: reopen the bets.")
    certainty: Literal["live", "confirmed"] | None = Field(
        None, description="Results: scouted live, or the confirmed official result.")
    outcomes: list[SettledOutcome] = Field(default_factory=list, description="Results: every outcome settled.")
    void_reason: str | None = Field(None, description="Why bets are void (the provider's reason, e.g. "
                                    "EVENT_ABANDONED).")
    void_from: UtcDateTime | None = Field(None, description="Voids: bets placed from this time on; none: since "
                                          "the market opened.")
    void_to: UtcDateTime | None = Field(None, description="Voids: bets placed before this time; none: until the "
                                        "market closed.")
    superseded_by: str | None = Field(None, description="Voids: the provider's id of the event the market moved to.")

    @model_validator(mode="after")
    def _outcomes_only_for_results(self) -> Settlement:
        if self.kind == "void" and self.outcomes:
            raise ValueError("a void settles no outcome")
        if self.kind == "result" and not self.outcomes and not self.rolled_back:
            raise ValueError("a result settles at least one outcome")
        return self

    @property
    def entity_key(self) -> str:
        return settlement_key(self.event_id, self.bookmaker, self.market, self.specifiers, self.kind,
                              void_from=self.void_from, void_to=self.void_to)


def settlement_key(event_id: str, bookmaker: str, market: str, specifiers: str, kind: str, *,
                   void_from: datetime | str | None = None, void_to: datetime | str | None = None) -> str:
    """A market line's result, or one void range of it: `event|bookmaker|market|specifiers|kind[|from|to]`.
    A void's range is part of its identity: a rollback names the range it takes back."""
    key = f"{event_id}|{bookmaker}|{market}|{specifiers.replace('|', ',')}|{kind}"
    if kind == "void":
        key += f"|{_key_time(void_from)}|{_key_time(void_to)}"
    return key


def _key_time(value: datetime | str | None) -> str:
    if value is None:
        return "-"
    return str(int((value if isinstance(value, datetime) else parse_iso(value)).timestamp() * 1000))


CanonicalRecord = Event | Odds | RaceResult | FeedStatus | Settlement

RECORD_TYPES: dict[str, type[Event] | type[Odds] | type[RaceResult] | type[FeedStatus] | type[Settlement]] = {
    "event": Event,
    "odds": Odds,
    "race_result": RaceResult,
    "feed_status": FeedStatus,
    "settlement": Settlement,
}


def parse_record(data: bytes | dict[str, Any]) -> CanonicalRecord:
    """Rebuild a canonical record from its wire form."""
    obj = orjson.loads(data) if isinstance(data, bytes | str) else data
    return RECORD_TYPES[obj["type"]].model_validate(obj)
