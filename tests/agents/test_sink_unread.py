"""The sink's lag: what its consumer group has not read yet on the partitions it owns."""

from __future__ import annotations

from sinks.base import unread


def test_lag_is_end_minus_position_over_the_assigned_partitions() -> None:
    assert unread({"a": 100, "b": 7}, {"a": 90, "b": 7}) == 10
    assert unread({}, {}) == 0


def test_no_lag_is_claimed_before_every_partition_has_an_end_offset() -> None:
    assert unread({"a": 100, "b": None}, {"a": 0, "b": 0}) is None


def test_a_position_past_the_end_counts_as_caught_up() -> None:
    assert unread({"a": 5}, {"a": 6}) == 0
