"""Team and competition names: normalization and similarity (pure functions).

Providers spell one club many ways: "FC Bayern München", "Bayern Munich", "FC Bayern"; "Man Utd",
"Manchester United FC"; "LA Lakers", "Los Angeles Lakers", "LAL". `parse_team` turns a spelling
into tokens (accents and transliteration folded, club prefixes/suffixes dropped, city
abbreviations and local-language city names mapped to one form, the provider abbreviation table
applied) plus the *markers* that make a different team of the same club (reserves, women, youth).

`team_similarity` scores two parsed names in [0, 1]. It is built to keep look-alikes apart: two
names that each have a distinguishing word the other lacks (Manchester United / City, Real Madrid
/ Sociedad, Lakers / Clippers) score low, different markers score 0, while a short form (FC
Bayern / Bayern Munich, Leeds / Leeds United) scores high but below an exact match.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from rapidfuzz import fuzz

# Letters NFKD does not decompose into ASCII.
_TRANSLITERATE = str.maketrans({"ß": "ss", "ø": "o", "Ø": "o", "æ": "ae", "Æ": "ae", "ł": "l", "Ł": "l",
                                "đ": "d", "Đ": "d", "þ": "th", "\u0131": "i", "œ": "oe"})
_REPLACEMENTS = (("&", " and "), ("'", ""), ("\u2019", ""))
# Club-form words that distinguish nothing between providers' spellings of the same club.
_NOISE = frozenset({
    "fc", "afc", "cf", "sc", "ac", "the", "club", "de", "del", "da", "do", "fk", "cd", "ud", "sd", "ca", "sv", "vfb",
    "vfl", "tsg", "ssc", "as", "ogc", "rc", "rcd", "fsv", "bk", "sk", "nk", "hnk", "gnk", "cfc", "calcio", "bsc",
    "rb", "rasenballsport", "sl", "clube", "bv", "cp", "football", "futbol", "futebol", "and", "hotspur",
})
# Whole-token expansions: provider abbreviations of words and local-language city names.
_EXPAND = {
    "utd": "united", "st": "saint", "sankt": "saint", "man": "manchester", "la": "los angeles", "ny": "new york",
    "sf": "san francisco", "kc": "kansas city", "gb": "green bay", "tb": "tampa bay", "okc": "oklahoma city",
    "nyc": "new york city", "nottm": "nottingham", "atl": "atletico", "atleti": "atletico",
    "munchen": "munich", "muenchen": "munich", "koln": "cologne", "koeln": "cologne", "milano": "milan",
    "internazionale": "inter", "lisboa": "lisbon", "praha": "prague", "wien": "vienna", "sevilla": "seville",
    "napoli": "naples", "torino": "turin", "firenze": "florence", "mgladbach": "gladbach",
    "monchengladbach": "gladbach", "moenchengladbach": "gladbach", "bilbao": "bilbao", "wolverhampton": "wolves",
}
# Words that make another team of the same club: must agree on both sides.
_MARKERS = {
    "women": "women", "w": "women", "womens": "women", "ladies": "women", "femenino": "women", "feminin": "women",
    "feminine": "women", "frauen": "women", "fem": "women", "femminile": "women",
    "ii": "reserve", "b": "reserve", "reserves": "reserve", "reserve": "reserve", "res": "reserve",
    "castilla": "reserve", "iii": "third", "youth": "youth", "academy": "youth", "primavera": "youth",
    "juniors": "youth",
}
_YOUTH = re.compile(r"^u\d{2}$")
# Leading words shared by many clubs (and city words): never a club's anchor.
_GENERIC = frozenset({
    "real", "atletico", "athletic", "sporting", "racing", "olympique", "borussia", "bayer", "eintracht", "werder",
    "hellas", "dynamo", "dinamo", "union", "new", "york", "city", "los", "angeles", "san", "santa", "saint",
    "united", "deportivo", "stade", "lokomotiv", "young", "west", "golden", "state",
})


@dataclass(frozen=True, slots=True)
class TeamName:
    tokens: tuple[str, ...]
    markers: frozenset[str]

    @property
    def key(self) -> str:
        return "-".join((*self.tokens, *sorted(self.markers)))

    @property
    def anchor(self) -> str:
        """A short prefix every spelling of this club shares: the route key's part for this team."""
        return _anchor(self.tokens, self.markers)


@lru_cache(maxsize=65536)  # asked for every fixture of every raw record; a pure function of the parsed name
def _anchor(tokens: tuple[str, ...], markers: frozenset[str]) -> str:
    if not tokens:
        return "-".join(sorted(markers)) or "?"
    word = next((t for t in tokens if t not in _GENERIC), tokens[0])
    return word[:3]


def fold(text: str) -> str:
    """Lowercase ASCII, accents and special letters transliterated."""
    text = unicodedata.normalize("NFKD", text.translate(_TRANSLITERATE)).encode("ascii", "ignore").decode()
    return text.lower()


def words(text: str) -> list[str]:
    text = fold(text)
    for old, new in _REPLACEMENTS:
        text = text.replace(old, new)
    return [w for w in re.split(r"[^a-z0-9]+", text) if w]


def _parse(name: str) -> TeamName:
    tokens: list[str] = []
    markers: set[str] = set()
    for word in words(name):
        if word in _MARKERS:
            markers.add(_MARKERS[word])
        elif _YOUTH.match(word):
            markers.add(word)
        elif word in _NOISE or (word.isdigit() and len(word) <= 2):
            continue
        else:
            tokens.extend(_EXPAND.get(word, word).split())
    return TeamName(tuple(tokens), frozenset(markers))


@cache
def _aliases() -> dict[str, dict[str, str]]:
    """sport -> {alias key -> display name} from agents/data/team_aliases.json."""
    raw: dict[str, Any] = json.loads(  # sport -> {alias -> name}, and "_comment" -> its text
        resources.files("agents.data").joinpath("team_aliases.json").read_text()
    )
    return {sport: {_parse(alias).key: name for alias, name in mapping.items()}
            for sport, mapping in raw.items() if not sport.startswith("_")}


_pins: dict[str, dict[str, str]] = {}
_reference: dict[str, dict[str, str]] = {}


def set_reference(spellings: dict[str, dict[str, str]]) -> None:
    """Spellings learned from providers' team lists (`agents.stages.teams`); pins win over them, they win
    over the alias table."""
    _reference.clear()
    _reference.update({sport: {_parse(alias).key: name for alias, name in mapping.items()}
                       for sport, mapping in spellings.items()})
    parse_team.cache_clear()
    fixture_anchors.cache_clear()


def set_pins(pins: dict[str, dict[str, str]]) -> None:
    """Operator-pinned spellings (sport -> {spelling -> display name}); they win over the alias table."""
    _pins.clear()
    _pins.update({sport: {_parse(alias).key: name for alias, name in mapping.items()}
                  for sport, mapping in pins.items()})
    parse_team.cache_clear()
    fixture_anchors.cache_clear()


def listed_apart(sport: str | None, a: str, b: str) -> bool:
    """Both spellings are teams the providers' team lists know, and different ones: "Tottenham Hotspur" and a
    listed look-alike "Tottenham Hotspur X" only look like a short form of each other."""
    table = _reference.get(sport or "")
    if not table:
        return False
    first, second = table.get(_parse(a).key), table.get(_parse(b).key)
    return first is not None and second is not None and first != second


def spelling_key(name: str) -> str:
    """The key a pinned or listed spelling is looked up by (`set_pins`, `set_reference`)."""
    return _parse(name).key


@lru_cache(maxsize=65536)
def parse_listed(sport: str | None, name: str) -> TeamName:
    """A name as a provider's team list gives it: the alias table applies, pins and the registry do not (the
    registry is built from these, so it must not depend on the registry before it)."""
    parsed = _parse(name)
    display = _aliases().get(sport or "", {}).get(parsed.key)
    return _parse(display) if display is not None else parsed


@lru_cache(maxsize=65536)  # stage 1 asks it for every event and odds record; cleared with `parse_team`
def fixture_anchors(sport: str, home: str, away: str) -> tuple[str, str]:
    """The two teams' anchors in sorted order: a fixture's route key whichever side each team plays."""
    first, second = parse_team(sport, home)[0].anchor, parse_team(sport, away)[0].anchor
    return (first, second) if first <= second else (second, first)


@lru_cache(maxsize=65536)
def parse_team(sport: str | None, name: str) -> tuple[TeamName, str | None]:
    """(parsed name, display name if a pin or the alias table knows this spelling)."""
    parsed = _parse(name)
    key = sport or ""
    display = (_pins.get(key, {}).get(parsed.key) or _reference.get(key, {}).get(parsed.key)
               or _aliases().get(key, {}).get(parsed.key))
    if display is not None:
        return _parse(display), display
    return parsed, None


def _acronym(short: tuple[str, ...], long: tuple[str, ...]) -> bool:
    return len(short) == 1 and 2 <= len(short[0]) <= 5 and len(long) >= 2 and short[0] == "".join(
        t[0] for t in long)


def _token_match(a: str, b: str) -> float:
    if a == b:
        return 1.0
    short, long = sorted((a, b), key=len)
    if len(short) >= 3 and long.startswith(short):
        return 0.9
    ratio = fuzz.ratio(a, b) / 100.0
    return ratio if ratio >= 0.85 else 0.0


@lru_cache(maxsize=65536)  # a pure function of two immutable names; a new fixture is scored against each spelling
def team_similarity(a: TeamName, b: TeamName) -> float:  # noqa: PLR0911 - one return per case
    """How likely two parsed names are the same team, in [0, 1]."""
    if a.markers != b.markers:
        return 0.0
    if a.tokens == b.tokens:
        return 1.0
    if _acronym(a.tokens, b.tokens) or _acronym(b.tokens, a.tokens):
        return 0.85
    left, right = list(a.tokens), list(b.tokens)
    quality: list[float] = []
    for token in list(left):
        best, where = 0.0, -1
        for i, other in enumerate(right):
            score = _token_match(token, other)
            if score > best:
                best, where = score, i
        if where >= 0:
            quality.append(best)
            left.remove(token)
            del right[where]
    if not quality:
        return 0.0
    mean = sum(quality) / len(quality)
    if left and right:
        # Each side has a word the other lacks: Manchester United / City, Real Madrid / Sociedad.
        return 0.3 * mean
    if left or right:
        if all(t in _GENERIC for t in (a.tokens if not left else b.tokens)):
            return 0.4 * mean  # only "Real" or "United" in common
        return 0.85 * mean  # a short form: FC Bayern / Bayern Munich
    return mean


# Competition spellings: acronyms and local names providers use for one league.
_LEAGUES = {
    "epl": "premier league", "english premier league": "premier league", "la liga": "laliga",
    "primera division": "laliga", "laliga ea sports": "laliga", "1 bundesliga": "bundesliga",
    "ucl": "champions league", "uefa champions league": "champions league", "mls": "major league soccer",
    "serie a tim": "serie a", "ligue 1 uber eats": "ligue 1",
}
_COUNTRIES = frozenset({"england", "spain", "germany", "italy", "france", "usa", "us", "europe", "world",
                        "international", "netherlands", "portugal", "scotland"})


@lru_cache(maxsize=4096)
def competition_key(name: str) -> str:
    text = " ".join(w for w in words(name) if w not in _COUNTRIES)
    return _LEAGUES.get(text, text)


@lru_cache(maxsize=4096)
def competition_similarity(a: str | None, b: str | None) -> float | None:
    """None when either is unknown; else in [0, 1]."""
    if not a or not b:
        return None
    ka, kb = competition_key(a), competition_key(b)
    if ka == kb:
        return 1.0
    return fuzz.token_set_ratio(ka, kb) / 100.0
