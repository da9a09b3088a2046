"""Time conversions shared by every normalizer: everything leaves here as aware UTC."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

US_EASTERN = ZoneInfo("America/New_York")


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_utc(value: datetime, assume: ZoneInfo | None = None) -> datetime:
    """Aware datetimes are converted; naive ones are read as wall time in `assume` (UTC if None)."""
    if value.tzinfo is UTC:
        return value  # what astimezone(UTC) returns for it, without the call
    if value.tzinfo is None:
        # fold=0 picks the first of two ambiguous wall times (DST end), as providers' feeds do.
        value = value.replace(tzinfo=assume or UTC)
    return value.astimezone(UTC)


def parse_iso(text: str, assume: ZoneInfo | None = None) -> datetime:
    """ISO-8601 with or without offset; a trailing `Z` means UTC."""
    return to_utc(datetime.fromisoformat(text.replace("Z", "+00:00")), assume)


def _iso_ms(text: str) -> int:
    return int(parse_iso(text).timestamp() * 1000)


# `parse_iso(text)` as epoch milliseconds. Cached: stage 2 reads the same few instants (a fixture's start
# time, a feed's last update) on every poll. Typed as a plain callable so callers' arguments stay checked.
iso_ms: Callable[[str], int] = lru_cache(maxsize=16384)(_iso_ms)


def from_epoch_ms(ms: int | float) -> datetime:
    return datetime.fromtimestamp(ms / 1000.0, UTC)


def _iso_z(value: datetime) -> str:
    return to_utc(value).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


# UTC, millisecond precision, trailing `Z`: the one wire format for instants. Cached: every canonical
# record serializes its instants through this, and most of them recur (a fixture's start time on every
# poll, an envelope's receipt time on each of its records). Equal keys are the same instant (naive and
# aware never compare equal), so a hit gives the same text.
iso_z: Callable[[datetime], str] = lru_cache(maxsize=16384)(_iso_z)
