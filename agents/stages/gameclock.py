"""`period` and `clock` as one vocabulary per sport, whatever the provider wrote (pure functions).

Providers write the period as '1', 'Q1', '1st quarter', '1st_half', '2H', 'HT', 'OT2', 'Top 5'
and the clock as '07:32', '45+2\'' or seconds played. Canonical events keep that text in `period`
and `clock` and add:

- `periodNumber` (1-based: halves, quarters, periods, innings, sets; overtime continues the count,
  so NBA OT1 is 5) and `phase` (`pregame`, `regulation`, `break`, `overtime`, `shootout`, `ended`);
- `clockSeconds` and `clockRunning`. The clock counts the way the sport shows it: in soccer (and
  rugby, handball) the match time played, e.g. 2700 at half time; in basketball, American football
  and ice hockey the time left in the period. Providers that count the other way are converted.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from schemas.canonical import Phase

REGULATION_PERIODS = {"soccer": 2, "rugby": 2, "handball": 2, "basketball": 4, "americanfootball": 4,
                      "icehockey": 3, "baseball": 9}
COUNT_UP_SPORTS = frozenset({"soccer", "rugby", "handball"})
_PERIOD_SECONDS = {"soccer": 45 * 60, "rugby": 40 * 60, "handball": 30 * 60, "americanfootball": 15 * 60,
                   "icehockey": 20 * 60}
# Providers whose clock is the time played in the current period (not the sport's usual display).
_PLAYED_IN_PERIOD = frozenset({"statscore"})

_ORDINAL = re.compile(r"^(?:q|p|h|period|quarter|half|set|inning)?\s*(\d+)\s*(?:st|nd|rd|th)?\s*"
                      r"(?:h|half|quarter|period|set|inning|q|p)?$")
_HALF_INNING = re.compile(r"^(?:top|bottom|bot|mid|middle|end|t|b|m|e)\s*(\d+)$")
_OVERTIME = re.compile(r"^(?:ot|overtime|et|extra|extra time|(\d+)(?:st|nd|rd|th)? ?extra)\s*(\d*)$")
_WORDS = {
    "ns": Phase.PREGAME, "not started": Phase.PREGAME, "pregame": Phase.PREGAME, "scheduled": Phase.PREGAME,
    "ht": Phase.BREAK, "half": Phase.BREAK, "halftime": Phase.BREAK, "half time": Phase.BREAK,
    "break": Phase.BREAK, "pause": Phase.BREAK, "intermission": Phase.BREAK, "bt": Phase.BREAK,
    "awaiting extra time": Phase.BREAK, "extra time halftime": Phase.BREAK, "awaiting penalties": Phase.BREAK,
    "p": Phase.SHOOTOUT, "pen": Phase.SHOOTOUT, "penalties": Phase.SHOOTOUT, "so": Phase.SHOOTOUT,
    "shootout": Phase.SHOOTOUT,
    "f": Phase.ENDED, "ft": Phase.ENDED, "final": Phase.ENDED, "ended": Phase.ENDED, "aet": Phase.ENDED,
    "ap": Phase.ENDED, "f/ot": Phase.ENDED, "f/so": Phase.ENDED, "closed": Phase.ENDED,
}
_STATUS_PHASE = {"scheduled": Phase.PREGAME, "halftime": Phase.BREAK, "final": Phase.ENDED}


# Pure functions of a few short strings that repeat from poll to poll (a live game's period and clock
# texts change every few polls): memoized, bounded.
@lru_cache(maxsize=4096)
def period_of(sport: str | None, text: str | None, status: str | None) -> tuple[int | None, Phase | None]:
    """(period number, phase) from a provider's period text and the canonical status."""
    regulation = REGULATION_PERIODS.get(sport or "", 4)
    if text is None or not text.strip():
        return None, _STATUS_PHASE.get(status or "")
    word = text.strip().lower().replace("_", " ")
    if word in _WORDS:
        phase = _WORDS[word]
        return (1 if phase is Phase.BREAK and regulation == 2 else None), phase
    if match := _OVERTIME.match(word):
        nth = match.group(1) or match.group(2)
        return regulation + (int(nth) if nth else 1), Phase.OVERTIME
    if match := _ORDINAL.match(word) or _HALF_INNING.match(word):
        number = int(match.group(1))
        if number > regulation and sport not in {"baseball", "tennis"}:
            return number, Phase.OVERTIME
        return number, Phase.BREAK if status == "halftime" else Phase.REGULATION
    return None, _STATUS_PHASE.get(status or "", Phase.REGULATION if status == "live" else None)


_MMSS = re.compile(r"^(\d+):(\d{1,2})(?:\.\d+)?$")
_MINUTE = re.compile(r"^(\d+)(?:\+(\d+))?'?$")


@lru_cache(maxsize=4096)
def clock_of(sport: str | None, provider: str, text: str | None, period: int | None, league: str | None
             ) -> int | None:
    """Clock seconds in the sport's usual direction (see the module doc), or None."""
    if text is None:
        return None
    raw = text.strip()
    if match := _MMSS.match(raw):
        seconds = int(match.group(1)) * 60 + int(match.group(2))
        played_in_period = provider in _PLAYED_IN_PERIOD
    elif match := _MINUTE.match(raw):
        # A minute ("45'", "45+2'", API-Sports' basketball timer "8") is time played.
        seconds = (int(match.group(1)) + int(match.group(2) or 0)) * 60
        played_in_period = provider in _PLAYED_IN_PERIOD or sport not in COUNT_UP_SPORTS
    else:
        return None
    if not played_in_period or not period:
        return seconds
    length = _period_seconds(sport, league)
    if sport in COUNT_UP_SPORTS:
        return seconds + (min(period, REGULATION_PERIODS.get(sport or "", 2)) - 1) * length
    return max(0, length - seconds) if length else None


def _period_seconds(sport: str | None, league: str | None) -> int:
    if sport == "basketball":
        return 12 * 60 if league and "nba" in league.lower() and "wnba" not in league.lower() else 10 * 60
    return _PERIOD_SECONDS.get(sport or "", 0)


def game_clock(record: dict[str, Any]) -> dict[str, Any]:
    """The canonical period/clock fields for an event in wire form."""
    sport, status = record.get("sport"), record.get("status")
    number, phase = period_of(sport, record.get("period"), status)
    seconds = clock_of(sport, record.get("provider", ""), record.get("clock"), number, record.get("league"))
    running = None if seconds is None else (status == "live" and phase in {Phase.REGULATION, Phase.OVERTIME})
    return {"periodNumber": number, "phase": phase.value if phase else None, "clockSeconds": seconds,
            "clockRunning": running}
