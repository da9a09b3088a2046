"""Stage 1's read order across partitions (`agents.aligned`): record time, also while catching up."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiokafka import TopicPartition

from agents.aligned import Aligned
from agents.intake import Intake
from runtime.observability import prometheus as metrics
from runtime.settings import ProcessingSettings, Settings


@dataclass(frozen=True)
class Msg:
    tp: str
    offset: int
    timestamp: int


def msgs(tp: str, *times: int, start: int = 0) -> list[Msg]:
    return [Msg(tp, start + i, t) for i, t in enumerate(times)]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_backlog_is_released_in_record_time_across_partitions_not_one_partition_first() -> None:
    # After a restart "odds" came back whole while "scores" delivered only its first minute so far.
    aligned = Aligned()
    aligned.add({"odds": msgs("odds", 10, 20, 30, 40, 50), "scores": msgs("scores", 15, 25)})
    first = aligned.release(behind=["scores"])
    assert [(m.tp, m.timestamp) for m in first] == [("odds", 10), ("scores", 15), ("odds", 20), ("scores", 25)]
    aligned.add({"scores": msgs("scores", 35, 45, start=2)})  # its end: nothing is behind any more
    rest = aligned.release(behind=[])
    assert [(m.tp, m.timestamp) for m in rest] == [("odds", 30), ("scores", 35), ("odds", 40), ("scores", 45),
                                                   ("odds", 50)]
    assert len(aligned) == 0


def test_a_live_worker_releases_at_once() -> None:
    aligned = Aligned()
    aligned.add({"a": msgs("a", 5), "b": msgs("b", 3)})
    assert [m.timestamp for m in aligned.release(behind=[])] == [3, 5]


def test_a_partition_known_to_be_behind_but_not_yet_fetched_holds_the_others_until_max_hold() -> None:
    clock = Clock()
    aligned = Aligned(max_hold_s=2.0, clock=clock)
    aligned.add({"a": msgs("a", 100, 200)})
    assert aligned.release(behind=["b"]) == []
    clock.now = 1.0
    assert aligned.release(behind=["b"]) == []
    clock.now = 2.5  # "b" never delivered: order is best effort, progress is not
    assert [m.timestamp for m in aligned.release(behind=["b"])] == [100, 200]


def test_each_partition_keeps_its_own_order_even_when_its_clock_steps_back() -> None:
    aligned = Aligned()
    aligned.add({"a": msgs("a", 10, 30, 20), "b": msgs("b", 25)})
    out = aligned.release(behind=[])
    assert [m.offset for m in out if m.tp == "a"] == [0, 1, 2]
    assert len(out) == 4


def test_revoked_partitions_are_forgotten_and_hold_nothing_back() -> None:
    aligned = Aligned()
    aligned.add({"a": msgs("a", 10, 20), "b": msgs("b", 5)})
    aligned.drop(["a"])
    assert aligned.buffered("a") == 0
    assert [m.tp for m in aligned.release(behind=["a"])] == []  # "a" unknown again: it holds until fetched
    aligned.add({"a": msgs("a", 1)})
    assert [(m.tp, m.timestamp) for m in aligned.release(behind=[])] == [("a", 1), ("b", 5)]


def test_a_partition_at_its_end_holds_records_newer_than_its_last_fetch_response() -> None:
    """Seen in the accuracy harness: stage 1's view of The Odds API's partition was 600 ms old when
    STATSCORE's newer 19-22 came; The Odds API's older 18-22 (already on the broker) then came "behind"."""
    aligned = Aligned()
    aligned.add({"statscore": msgs("statscore", 2259)})
    assert aligned.release(behind=[], polled={"statscore": 2300, "theoddsapi": 1300}) == []
    aligned.add({"theoddsapi": msgs("theoddsapi", 1935)})  # the next fetch response brings it
    released = aligned.release(behind=[], polled={"statscore": 2400, "theoddsapi": 2400})
    assert [(m.tp, m.timestamp) for m in released] == [("theoddsapi", 1935), ("statscore", 2259)]


def test_a_partition_not_fetched_meanwhile_bounds_by_its_buffered_records_not_its_old_response() -> None:
    # A paused partition (far ahead, its records buffered here) is not in fetch requests: its last response
    # is old, but what it delivers next comes after its buffered records.
    aligned = Aligned()
    aligned.add({"ahead": msgs("ahead", 5000, 6000), "live": msgs("live", 3000)})
    released = aligned.release(behind=[], polled={"ahead": 1000, "live": 3100})
    assert [(m.tp, m.timestamp) for m in released] == [("live", 3000)]


def test_records_held_for_a_stale_view_still_go_after_max_hold() -> None:
    clock = Clock()
    aligned = Aligned(max_hold_s=2.0, clock=clock)
    aligned.add({"statscore": msgs("statscore", 2259)})
    assert aligned.release(behind=[], polled={"theoddsapi": 1300}) == []
    clock.now = 2.5
    assert [m.timestamp for m in aligned.release(behind=[], polled={"theoddsapi": 1300})] == [2259]


def test_a_slow_catch_up_round_keeps_the_order() -> None:
    """After a crash on a loaded box, one round of fetches of the backlog took 2.7 s: a partition behind that is
    slow to deliver must still hold the others (with a 2 s hold, 33-449 states were lost per accuracy run)."""
    clock = Clock()
    expired: list[tuple[list[str], float]] = []
    aligned = Aligned(clock=clock, on_expire=lambda tps, held: expired.append((tps, held)))
    aligned.add({"statscore": msgs("statscore", 200, 300), "apisports": msgs("apisports", 250)})
    assert aligned.release(behind=["theoddsapi"]) == []
    clock.now = 5.0
    assert aligned.release(behind=["theoddsapi"]) == []
    aligned.add({"theoddsapi": msgs("theoddsapi", 150, 260)})  # the slow round lands
    released = aligned.release(behind=["theoddsapi"])
    assert [(m.tp, m.timestamp) for m in released] == [("theoddsapi", 150), ("statscore", 200),
                                                       ("apisports", 250), ("theoddsapi", 260)]
    assert expired == []


def test_giving_up_the_order_says_which_partitions_were_waited_for() -> None:
    clock = Clock()
    expired: list[tuple[list[str], float]] = []
    aligned = Aligned(max_hold_s=10.0, clock=clock, on_expire=lambda tps, held: expired.append((tps, held)))
    aligned.add({"statscore": msgs("statscore", 200), "apisports": msgs("apisports", 100)})
    assert [m.tp for m in aligned.release(behind=["theoddsapi", "apisports"], polled={"jolpica": 90})] == []
    clock.now = 10.5
    released = aligned.release(behind=["theoddsapi", "apisports"], polled={"jolpica": 90})
    assert [m.tp for m in released] == ["apisports", "statscore"]
    assert expired == [(["theoddsapi"], 10.5)]


def test_stage_one_takes_its_hold_from_the_settings_and_reports_giving_up(caplog) -> None:
    """The worker's wiring (agents/intake.py): the hold is `processing.order_hold_s`; giving up logs the
    partitions waited for and counts `sportsflow_order_hold_expired_total` (what operators and the accuracy
    harness read)."""
    settings = Settings(processing=ProcessingSettings(order_hold_s=7.5))
    intake = Intake(settings=settings, app_id="t", raw_topics=["raw.theoddsapi"], resolve_topic="t.resolve",
                    producer=lambda: None)
    aligned = intake._aligned
    assert aligned.max_hold_s == 7.5
    before = metrics.ORDER_HOLD_EXPIRED._value.get()
    clock = Clock()
    aligned._clock = clock
    aligned.add({TopicPartition("raw.statscore", 0): msgs("statscore", 200)})
    assert aligned.release(behind=[TopicPartition("raw.theoddsapi", 1)]) == []
    clock.now = 8.0
    with caplog.at_level(logging.WARNING, logger="agents.intake"):
        assert [m.timestamp for m in aligned.release(behind=[TopicPartition("raw.theoddsapi", 1)])] == [200]
    assert metrics.ORDER_HOLD_EXPIRED._value.get() == before + 1
    assert "waited 8.0s for raw.theoddsapi:1" in caplog.text
    assert "out of record-time order" in caplog.text  # the phrase benchmarks/accuracy.py counts
