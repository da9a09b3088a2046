"""Time conversions shared by every normalizer: everything leaves here as aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

US_EASTERN = ZoneInfo("America/New_York")


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_utc(value: datetime, assume: ZoneInfo | None = None) -> datetime:
    """Aware datetimes are converted; naive ones are read as wall time in `assume` (UTC if None)."""
    if value.tzinfo is None:
        # fold=0 picks the first of two ambiguous wall times (DST end), as providers' feeds do.
        value = value.replace(tzinfo=assume or UTC)
    return value.astimezone(UTC)


def parse_iso(text: str, assume: ZoneInfo | None = None) -> datetime:
    """ISO-8601 with or without offset; a trailing `Z` means UTC."""
    return to_utc(datetime.fromisoformat(text.replace("Z", "+00:00")), assume)


def from_epoch_ms(ms: int | float) -> datetime:
    return datetime.fromtimestamp(ms / 1000.0, UTC)


def iso_z(value: datetime) -> str:
    """UTC, millisecond precision, trailing `Z`: the one wire format for instants."""
    return to_utc(value).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
