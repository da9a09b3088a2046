"""Odds conversions are exact: properties over the whole domain, and known values."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.odds import OddsFormatError, american_to_decimal, decimal_price, fractional_to_decimal


@pytest.mark.parametrize(("american", "decimal"), [(100, 2.0), (-100, 2.0), (150, 2.5), (-200, 1.5),
                                                    (-110, 1 + 100 / 110), ("+250", 3.5), (-140, 1 + 100 / 140)])
def test_known_american_values(american, decimal):
    """Textbook conversions."""
    assert american_to_decimal(american) == pytest.approx(decimal, rel=1e-15)


@given(st.integers(min_value=100, max_value=100_000))
def test_positive_american_is_profit_per_100(american):
    """+X means a 100 stake wins X: decimal = 1 + X/100, exactly."""
    assert american_to_decimal(american) == float(1 + Fraction(american, 100))


@given(st.integers(min_value=100, max_value=100_000))
def test_negative_american_is_stake_to_win_100(american):
    """-X means staking X wins 100: decimal = 1 + 100/X, exactly, and never above 2."""
    decimal = american_to_decimal(-american)
    assert decimal == float(1 + Fraction(100, american))
    assert 1.0 < decimal <= 2.0


@given(st.integers(min_value=-99, max_value=99))
def test_american_between_minus_and_plus_100_is_invalid(american):
    """There are no American odds strictly between -100 and +100."""
    with pytest.raises(OddsFormatError):
        american_to_decimal(american)


@given(st.integers(min_value=1, max_value=1000), st.integers(min_value=1, max_value=1000))
def test_fractional(numerator, denominator):
    """a/b -> 1 + a/b."""
    assert fractional_to_decimal(f"{numerator}/{denominator}") == float(1 + Fraction(numerator, denominator))


@pytest.mark.parametrize("text", ["5-2", "0/1", "1/0", "x/y", ""])
def test_bad_fractional(text):
    """Malformed fractional odds raise the typed error."""
    with pytest.raises(OddsFormatError):
        fractional_to_decimal(text)


def test_evens_and_decimal_floor():
    """Evens is 2.0; decimal odds must exceed 1.0."""
    assert fractional_to_decimal("evs") == 2.0
    with pytest.raises(OddsFormatError):
        decimal_price(1.0)


@given(st.one_of(st.integers(min_value=-10**9, max_value=10**9),
                 st.integers(min_value=-10**6, max_value=10**6).map(float)))
def test_whole_american_odds_take_the_fast_path_to_the_same_float(american):
    """Whole odds skip the Fraction (the hot path); the result is the float of the exact rational all the same."""
    if -100 < american < 100:
        with pytest.raises(OddsFormatError):
            american_to_decimal(american)
        return
    assert american_to_decimal(american) == float(1 + Fraction(int(american), 100) if american > 0
                                                  else 1 + Fraction(100, -int(american)))
