"""The simulated world: scripted matches whose score, status and odds move on every tick, and
motor races whose running order changes every lap until the chequered flag.

Deterministic for a given seed, so tests can compute the ground truth the pipeline must deliver.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

TEAMS: dict[str, tuple[str, str, list[str]]] = {
    "basketball_nba": ("basketball", "NBA", [
        "Boston Celtics", "Los Angeles Lakers", "Golden State Warriors", "Miami Heat", "Denver Nuggets",
        "Milwaukee Bucks", "Phoenix Suns", "Dallas Mavericks", "Philadelphia 76ers", "Brooklyn Nets",
    ]),
    "americanfootball_nfl": ("americanfootball", "NFL", [
        "Kansas City Chiefs", "Buffalo Bills", "Philadelphia Eagles", "San Francisco 49ers", "Dallas Cowboys",
        "Green Bay Packers", "Baltimore Ravens", "Detroit Lions", "Miami Dolphins", "Cincinnati Bengals",
    ]),
    "soccer_epl": ("soccer", "EPL", [
        "Arsenal", "Manchester City", "Liverpool", "Chelsea", "Tottenham Hotspur", "Newcastle United",
        "Aston Villa", "Brighton and Hove Albion", "West Ham United", "Leicester City",
    ]),
}
# How each simulated provider spells the world's teams. Real providers disagree on names
# ("Tottenham" at API-Sports, "Tottenham Hotspur" at The Odds API, "SF 49ers" against "San Francisco
# 49ers"), so the simulator does too: entity resolution must meet them, not one shared world. The Odds
# API keeps the world's own names (the accuracy harness reads its ground truth from them); SportsDataIO
# uses its team keys.
SPELLINGS: dict[str, dict[str, str]] = {
    "apisports": {
        "Tottenham Hotspur": "Tottenham", "Newcastle United": "Newcastle", "Brighton and Hove Albion": "Brighton",
        "West Ham United": "West Ham", "Leicester City": "Leicester", "Philadelphia 76ers": "Philadelphia 76ers",
    },
    "sportradar": {
        "Arsenal": "Arsenal FC", "Chelsea": "Chelsea FC", "Liverpool": "Liverpool FC",
        "Brighton and Hove Albion": "Brighton & Hove Albion", "Aston Villa": "Aston Villa FC",
    },
    "statscore": {
        "Manchester City": "Man City", "Tottenham Hotspur": "Tottenham Hotspur FC", "Newcastle United": "Newcastle Utd",
        "West Ham United": "West Ham Utd", "Brighton and Hove Albion": "Brighton & Hove Albion FC",
        "Los Angeles Lakers": "LA Lakers", "San Francisco 49ers": "SF 49ers", "Kansas City Chiefs": "KC Chiefs",
        "Green Bay Packers": "GB Packers",
    },
}


def spelled(provider: str, name: str) -> str:
    """`name` as `provider` writes it; a test's unique suffix ("Arsenal r1") is kept."""
    table = SPELLINGS.get(provider, {})
    if name in table:
        return table[name]
    base, _, suffix = name.rpartition(" ")
    return f"{table[base]} {suffix}" if base in table else name


# How a provider's own team list (its teams/participants/competitors endpoint) names a team whose fixtures
# it spells otherwise: (full name, short name). Empty by default: a team list names a team as the provider's
# fixtures do. A test adds a provider that writes a club's local-language name in its fixtures and gives the
# international name beside it only in its team list.
LISTED: dict[str, dict[str, tuple[str, str | None]]] = {}


def listed(provider: str, name: str) -> tuple[str, str | None]:
    """(full name, short name) of `name` in `provider`'s team list."""
    known = LISTED.get(provider, {}).get(name)
    return known if known is not None else (spelled(provider, name), None)


def team_no(provider: str, name: str) -> int:
    """A provider's stable integer id of a team (providers number teams their own way)."""
    return int(hashlib.blake2b(f"{provider}|{name}".encode(), digest_size=4).hexdigest(), 16) % 100_000


def code_of(name: str) -> str:
    """A three-letter team code, as providers list them."""
    words = [w for w in name.split() if w.isalpha()]
    return (words[0][:3] if len(words) == 1 else "".join(w[0] for w in words)[:3]).upper()


BOOKMAKERS = ("fanduel", "draftkings", "betmgm")
# Points a scoring play is worth, per sport.
SCORING = {"basketball": (1, 2, 2, 3), "americanfootball": (3, 7, 7, 6), "soccer": (1,)}


# (given name, family name, code, number, team): the grid of the scripted races.
DRIVERS: tuple[tuple[str, str, str, int, str], ...] = (
    ("Max", "Verstappen", "VER", 1, "Red Bull"), ("Lando", "Norris", "NOR", 4, "McLaren"),
    ("Charles", "Leclerc", "LEC", 16, "Ferrari"), ("Oscar", "Piastri", "PIA", 81, "McLaren"),
    ("Lewis", "Hamilton", "HAM", 44, "Ferrari"), ("George", "Russell", "RUS", 63, "Mercedes"),
    ("Carlos", "Sainz", "SAI", 55, "Williams"), ("Fernando", "Alonso", "ALO", 14, "Aston Martin"),
    ("Pierre", "Gasly", "GAS", 10, "Alpine F1 Team"), ("Yuki", "Tsunoda", "TSU", 22, "RB F1 Team"),
)
GRANDS_PRIX = ("Bahrain Grand Prix", "Saudi Arabian Grand Prix", "Australian Grand Prix", "Japanese Grand Prix",
               "Chinese Grand Prix", "Miami Grand Prix")
RACE_POINTS = (25, 18, 15, 12, 10, 8, 6, 4, 2, 1)
LAP_S = 92.0  # a lap's nominal time, for the race times the providers report


@dataclass
class Driver:
    given_name: str
    family_name: str
    code: str
    number: int
    team: str

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


@dataclass
class Race:
    """A race: `order` is the running order (indexes into `drivers`), `gaps_s` each car's gap to the leader."""

    id: str
    season: int
    round: int
    name: str
    commence: datetime
    laps: int
    drivers: list[Driver]
    order: list[int]
    gaps_s: list[float]
    status: str = "scheduled"  # scheduled | live | final
    lap: int = 0
    version: int = 0
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def leader_time_s(self) -> float:
        """The leader's elapsed race time, as timing would show it."""
        return self.lap * LAP_S + (int(self.id[:4], 16) % 1000) / 1000

    @property
    def classification(self) -> list[tuple[int, Driver, float]]:
        """(position, driver, gap to the leader in seconds), in running order."""
        return [(p + 1, self.drivers[i], self.gaps_s[p]) for p, i in enumerate(self.order)]


@dataclass
class BookOdds:
    home: float
    away: float
    draw: float | None
    spread: float  # home perspective, e.g. -3.5
    spread_home: float
    spread_away: float
    total: float
    over: float
    under: float
    updated_at: datetime


@dataclass
class Match:
    id: str
    sport_key: str
    sport: str
    league: str
    home: str
    away: str
    commence: datetime
    status: str = "scheduled"  # scheduled | live | final
    home_score: int = 0
    away_score: int = 0
    period: int = 0
    ticks_live: int = 0
    version: int = 0
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    books: dict[str, BookOdds] = field(default_factory=dict)

    @property
    def started(self) -> bool:
        return self.status != "scheduled"


def _id(seed: int, n: int) -> str:
    return hashlib.blake2b(f"{seed}:{n}".encode(), digest_size=16).hexdigest()


class World:
    def __init__(self, *, seed: int = 7, matches: int = 3, live_ticks: int = 40,
                 start: datetime | None = None, sport_keys: tuple[str, ...] | None = None,
                 races: int = 1, race_laps: int | None = None) -> None:
        self.rng = random.Random(seed)
        self.now = start or datetime.now(UTC).replace(microsecond=0)
        self.live_ticks = live_ticks
        self.matches: dict[str, Match] = {}
        keys = sport_keys or tuple(TEAMS)
        for n in range(matches):
            sport_key = keys[n % len(keys)]
            sport, league, teams = TEAMS[sport_key]
            home, away = self.rng.sample(teams, 2)
            # The first match of each sport starts at once; later ones are staggered.
            commence = self.now + timedelta(seconds=0 if n < len(keys) else 30 * (n // len(keys)))
            match = Match(_id(seed, n), sport_key, sport, league, home, away, commence, updated_at=self.now)
            for book in BOOKMAKERS:
                match.books[book] = self._fresh_odds(match)
            self.matches[match.id] = match
        # Races draw from their own generator so the matches of a seed stay what they always were.
        self.race_rng = random.Random(seed + 1_000_003)
        self.races: dict[str, Race] = {}
        for n in range(races):
            # The first race starts at once; later ones follow a race distance apart.
            laps = race_laps or live_ticks
            commence = self.now + timedelta(seconds=n * laps * 3)
            race = Race(_id(seed, 10_000 + n), self.now.year, n + 1, GRANDS_PRIX[n % len(GRANDS_PRIX)], commence,
                        laps, [Driver(*d) for d in DRIVERS], self.race_rng.sample(range(len(DRIVERS)), len(DRIVERS)),
                        [0.0] * len(DRIVERS), updated_at=self.now)
            self.races[race.id] = race

    def _fresh_odds(self, match: Match) -> BookOdds:
        strength = self.rng.uniform(-0.3, 0.3)
        home = round(1.9 - strength + self.rng.uniform(-0.05, 0.05), 2)
        away = round(1.9 + strength + self.rng.uniform(-0.05, 0.05), 2)
        draw = round(3.2 + self.rng.uniform(-0.2, 0.2), 2) if match.sport == "soccer" else None
        spread = round(strength * 20) / 2 - 0.5 if match.sport != "soccer" else -0.5
        total = {"basketball": 219.5, "americanfootball": 45.5, "soccer": 2.5}[match.sport]
        return BookOdds(home, away, draw, spread, 1.91, 1.91, total, 1.9, 1.9, self.now)

    def tick(self, seconds: float = 3.0) -> list[Match]:
        """Advance the clock; returns the matches that changed."""
        self.now += timedelta(seconds=seconds)
        changed = []
        for match in self.matches.values():
            if self._advance(match):
                match.version += 1
                match.updated_at = self.now
                changed.append(match)
        for race in self.races.values():
            if self._advance_race(race):
                race.version += 1
                race.updated_at = self.now
        return changed

    def _advance_race(self, race: Race) -> bool:
        if race.status == "final" or self.now < race.commence:
            return False
        if race.status == "scheduled":
            race.status, race.lap = "live", 1
            race.gaps_s = [round(p * 0.4, 3) for p in range(len(race.order))]
            return True
        race.lap += 1
        if self.race_rng.random() < 0.6:  # an overtake: two adjacent cars swap
            p = self.race_rng.randrange(len(race.order) - 1)
            race.order[p], race.order[p + 1] = race.order[p + 1], race.order[p]
        # Gaps grow lap by lap; the field stays in order.
        gap = 0.0
        for p in range(len(race.order)):
            race.gaps_s[p] = round(gap, 3)
            gap += self.race_rng.uniform(0.2, 1.5) * race.lap / 5
        if race.lap >= race.laps:
            race.status = "final"
        return True

    def _advance(self, match: Match) -> bool:
        if match.status == "final":
            return False
        if match.status == "scheduled":
            if self.now < match.commence:
                return False
            match.status, match.period = "live", 1
            return True
        match.ticks_live += 1
        if match.ticks_live >= self.live_ticks:
            match.status = "final"
            return True
        match.period = 1 + match.ticks_live * 4 // self.live_ticks
        if self.rng.random() < 0.5:
            points = self.rng.choice(SCORING[match.sport])
            if self.rng.random() < 0.5:
                match.home_score += points
            else:
                match.away_score += points
        for book in match.books.values():
            self._move_odds(match, book)
        return True

    def _move_odds(self, match: Match, book: BookOdds) -> None:
        lead = match.home_score - match.away_score
        drift = max(-0.6, min(0.6, lead * 0.04)) + self.rng.uniform(-0.03, 0.03)
        book.home = round(max(1.01, 1.9 - drift), 2)
        book.away = round(max(1.01, 1.9 + drift), 2)
        if book.draw is not None:
            book.draw = round(max(1.05, 3.2 + abs(drift) * 2), 2)
        book.over = round(max(1.05, 1.9 + self.rng.uniform(-0.1, 0.1)), 2)
        book.under = round(max(1.05, 3.8 - book.over), 2)
        book.updated_at = self.now

    def teams(self, sport_key: str) -> list[str]:
        """The teams of a sport key, as providers list them: the league's and any a match was given."""
        named = [name for m in self.by_sport(sport_key) for name in (m.home, m.away)]
        return list(dict.fromkeys([*TEAMS.get(sport_key, ("", "", []))[2], *named]))

    def by_sport(self, sport_key: str) -> list[Match]:
        return [m for m in self.matches.values() if m.sport_key == sport_key]


def respell(provider: str, table: dict[str, str]) -> None:
    """Add spellings of `provider` (a test world's made-up teams, spelled its own way)."""
    SPELLINGS.setdefault(provider, {}).update(table)


_CONSONANTS, _VOWELS = "bdfgklmnprstvz", "aeiou"


def made_up_name(seed: str) -> str:
    """A pronounceable two-word team name derived from `seed` that no real club and no other seed shares."""
    digest = hashlib.blake2b(seed.encode(), digest_size=12).digest()
    words = []
    for chunk in (digest[:6], digest[6:]):
        word = "".join(_CONSONANTS[b % len(_CONSONANTS)] + _VOWELS[(b // 16) % len(_VOWELS)] for b in chunk[:4])
        words.append(word.capitalize())
    return " ".join(words)


def own_teams(world: World, tag: str) -> None:
    """Give every team of `world` a made-up name of its own (one name per club across the world's matches).

    Worlds that share a broker and a worker (tests, sessions) meet in one resolver, which matches names
    fuzzily: a real club's name with a tag added ("Arsenal 6a0b...") is a short form of the plain name
    another world uses, close enough to be joined to that world's fixture, even with home and away swapped.
    """
    names: dict[str, str] = {}
    for match in world.matches.values():
        match.home, match.away = (names.setdefault(n, made_up_name(f"{tag}|{n}")) for n in (match.home, match.away))

