"""API-Sports status tables (football, basketball, formula-1) and their one lookup.

Kept out of `apisports.py` so the tables stay readable and the tests can enumerate them.
"""

from __future__ import annotations

from collections.abc import Mapping

from schemas.canonical import Status
from schemas.errors import NormalizationError

# api-football v3 `fixture.status.short`.
FOOTBALL_STATUSES: Mapping[str, Status] = {
    "TBD": Status.SCHEDULED,  # time to be defined
    "NS": Status.SCHEDULED,
    "1H": Status.LIVE,
    "HT": Status.HALFTIME,
    "2H": Status.LIVE,
    "ET": Status.LIVE,  # extra time
    "BT": Status.HALFTIME,  # break before or during extra time: an interval, like half time
    "P": Status.LIVE,  # penalty shoot-out in progress
    "SUSP": Status.SUSPENDED,
    "INT": Status.SUSPENDED,  # interrupted, expected to resume
    "FT": Status.FINAL,
    "AET": Status.FINAL,
    "PEN": Status.FINAL,
    "PST": Status.POSTPONED,
    "CANC": Status.CANCELLED,
    "ABD": Status.ABANDONED,
    "AWD": Status.FINAL,  # technical loss: the result is awarded
    "WO": Status.FINAL,  # walkover: the result stands without play
    "LIVE": Status.LIVE,  # in progress, period unknown
}

# api-basketball v1 `status.short`.
BASKETBALL_STATUSES: Mapping[str, Status] = {
    "NS": Status.SCHEDULED,
    "Q1": Status.LIVE,
    "Q2": Status.LIVE,
    "Q3": Status.LIVE,
    "Q4": Status.LIVE,
    "OT": Status.LIVE,
    "BT": Status.LIVE,  # short break between quarters, play continues
    "HT": Status.HALFTIME,
    "FT": Status.FINAL,
    "AOT": Status.FINAL,  # after overtime
    "POST": Status.POSTPONED,
    "CANC": Status.CANCELLED,
    "SUSP": Status.SUSPENDED,
    "AWD": Status.FINAL,
    "ABD": Status.ABANDONED,
}

# api-formula-1 `races[].status`.
FORMULA1_STATUSES: Mapping[str, Status] = {
    "Scheduled": Status.SCHEDULED,
    "Live": Status.LIVE,
    "Completed": Status.FINAL,
    "Cancelled": Status.CANCELLED,
    "Postponed": Status.POSTPONED,
}


def lookup(table: Mapping[str, Status], code: str, provider: str, feed: str, path: str) -> Status:
    """The canonical status for a provider code; an unknown code is a `NormalizationError`."""
    try:
        return table[code.strip()]
    except KeyError:
        raise NormalizationError(provider, feed, f"unknown status code {code!r}", path) from None
