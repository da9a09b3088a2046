"""Odds format conversions. Results are the nearest float to the exact rational value."""

from __future__ import annotations

from fractions import Fraction

from schemas.errors import SportsflowError


class OddsFormatError(SportsflowError, ValueError):
    pass


def american_to_decimal(american: int | float | str) -> float:
    """+150 -> 2.5, -200 -> 1.5. American odds between -100 and +100 (exclusive) do not exist."""
    if type(american) is int or (type(american) is float and american.is_integer()):
        # Whole odds (nearly all of them): int / int is correctly rounded, the same float as the Fraction path.
        whole = int(american)
        if -100 < whole < 100:
            raise OddsFormatError(f"American odds must be <= -100 or >= +100, got {american!r}")
        return (100 + whole) / 100 if whole > 0 else (100 - whole) / -whole
    value = Fraction(str(american).strip().lstrip("+"))
    if -100 < value < 100:
        raise OddsFormatError(f"American odds must be <= -100 or >= +100, got {american!r}")
    if value > 0:
        return float(1 + value / 100)
    return float(1 + Fraction(100) / -value)


def fractional_to_decimal(fractional: str) -> float:
    """'5/2' -> 3.5, 'evs' -> 2.0."""
    text = fractional.strip().lower()
    if text in {"evs", "evens", "even"}:
        return 2.0
    numerator, sep, denominator = text.partition("/")
    if not sep:
        raise OddsFormatError(f"fractional odds need 'a/b', got {fractional!r}")
    try:
        value = Fraction(int(numerator), int(denominator))
    except (ValueError, ZeroDivisionError) as exc:
        raise OddsFormatError(f"bad fractional odds {fractional!r}") from exc
    if value <= 0:
        raise OddsFormatError(f"fractional odds must be positive, got {fractional!r}")
    return float(1 + value)


def decimal_price(value: int | float | str) -> float:
    price = float(value)
    if not price > 1.0:
        raise OddsFormatError(f"decimal odds must be > 1.0, got {value!r}")
    return price
