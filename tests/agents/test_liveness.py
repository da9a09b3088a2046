"""The worker's liveness rules (agents/liveness.py) on fake clocks and a fake consumer.

The end-to-end proof is tests/integration/test_versions_under_faults.py (a rebalance and a broker
restart in the middle of a run, audited from the outside); these pin the decisions themselves.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest

from agents import guard
from agents.liveness import EXIT_STOP_TIMEOUT, BoundedStopWorker, InOrder, Liveness
from agents.recovery import StreamSafeRecovery
from pipeline.app import app

ROOT = Path(__file__).resolve().parents[2]


class TP(NamedTuple):
    topic: str
    partition: int


class Consumer:
    def __init__(self, committed: dict[TP, int], earliest: int = 0, ends: dict[TP, int] | None = None) -> None:
        self._committed_offset = committed
        self.earliest = earliest
        self.ends = ends or {}
        self.sought: list[tuple[TP, int]] = []

    async def earliest_offsets(self, *tps: TP) -> dict[TP, int]:
        return dict.fromkeys(tps, self.earliest)

    async def highwaters(self, *tps: TP) -> dict[TP, int]:
        return {tp: self.ends[tp] for tp in tps if tp in self.ends}

    async def seek(self, tp: TP, offset: int) -> None:
        self.sought.append((tp, offset))


class Fatal(Exception):
    pass


@pytest.fixture
def fatal(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    reasons: list[str] = []

    def record(reason: str) -> None:
        reasons.append(reason)
        raise Fatal(reason)

    monkeypatch.setattr(guard, "fatal", record)
    return reasons


def test_a_commit_that_keeps_waiting_is_stuck() -> None:
    live = Liveness(commit_timeout_s=60, recovery_stall_s=60)
    commit = object()
    assert live.stuck(commit, False, 0, now=0) is None
    assert live.stuck(commit, False, 0, now=59) is None
    reason = live.stuck(commit, False, 0, now=61)
    assert reason is not None
    assert "commit" in reason


def test_commits_that_complete_are_not_stuck() -> None:
    live = Liveness(commit_timeout_s=60, recovery_stall_s=60)
    for second in range(0, 600, 10):  # a new commit every 10 s, none older than 10 s
        assert live.stuck(object() if second % 20 else None, False, 0, now=second) is None


def test_a_recovery_that_reads_nothing_is_stuck_one_that_reads_is_not() -> None:
    live = Liveness(commit_timeout_s=60, recovery_stall_s=60)
    for second in range(0, 400, 10):  # a long restore: 1,000 records fewer every 10 s
        assert live.stuck(None, True, 100_000 - 100 * second, now=second) is None
    assert live.stuck(None, True, 5, now=1000) is None
    assert live.stuck(None, True, 5, now=1050) is None
    reason = live.stuck(None, True, 5, now=1061)
    assert reason is not None
    assert "5 remaining" in reason
    assert live.stuck(None, False, 0, now=2000) is None  # recovery over: nothing to judge


async def test_records_read_in_order_are_processed_those_read_again_are_not(fatal: list[str]) -> None:
    tp = TP("app.resolve", 2)
    consumer, check = Consumer({tp: 7}), InOrder()
    processed = [offset for offset in (7, 8, 9, 8, 9, 10) if await check.check(consumer, 1, tp, offset)]
    assert processed == [7, 8, 9, 10]  # 8 and 9 read again after a seek back: applied already
    assert fatal == []


async def test_a_record_after_a_hole_stops_the_worker(fatal: list[str]) -> None:
    tp = TP("app.resolve", 0)
    consumer, check = Consumer({tp: 6}), InOrder()
    with pytest.raises(Fatal):
        await check.check(consumer, 3, tp, 7)  # 6, the committed offset, was never delivered
    assert "record 7 arrived while 6 was next" in fatal[0]
    check = InOrder()
    await check.check(consumer, 3, tp, 6)
    with pytest.raises(Fatal):
        await check.check(consumer, 3, tp, 8)


async def test_a_new_generation_starts_from_the_commit_and_retention_is_no_hole(fatal: list[str]) -> None:
    tp = TP("app.resolve", 1)
    consumer, check = Consumer({tp: 3}), InOrder()
    await check.check(consumer, 1, tp, 3)
    await check.check(consumer, 1, tp, 4)
    consumer._committed_offset[tp] = 4  # the next generation reads again from the commit
    await check.check(consumer, 2, tp, 4)
    deleted = Consumer({tp: 10}, earliest=50)  # the committed records were deleted by retention
    await InOrder().check(deleted, 1, tp, 50)
    await InOrder().check(Consumer({}), 1, tp, 12)  # nothing committed yet: nothing to compare
    assert fatal == []


def test_the_worker_command_stops_in_bounded_time_and_uses_the_safe_recovery() -> None:
    """`faust -A pipeline.app worker` and `sportsflow worker` build their worker and tables from the app's conf."""
    assert app.conf.Worker is BoundedStopWorker
    assert isinstance(app.tables.recovery, StreamSafeRecovery)


def test_the_stop_deadline_ends_a_process_that_hangs() -> None:
    """A process stuck after the signal (here: sleeping) is gone at the deadline with exit code 71."""
    code = ("import threading, time; from agents import liveness; "
            "threading.Thread(target=liveness._exit_after, args=(0.5,), daemon=True).start(); time.sleep(30)")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, timeout=20, check=False)
    assert done.returncode == EXIT_STOP_TIMEOUT
    assert time.monotonic() - started < 10
    assert b"did not stop within" in done.stderr + done.stdout


async def test_an_idle_partition_with_records_waiting_is_sought_again(monkeypatch: pytest.MonkeyPatch) -> None:
    waiting, caught_up, nothing_committed = TP("app.resolve", 0), TP("app.resolve", 1), TP("app.resolve", 2)
    consumer = Consumer({waiting: 2, caught_up: 5}, ends={waiting: 3, caught_up: 5, nothing_committed: 4})
    clock = [100.0]
    monkeypatch.setattr("agents.liveness.time.monotonic", lambda: clock[0])
    check = InOrder()
    parts = {waiting, caught_up, nothing_committed}
    assert await check.kick_idle(consumer, 7, parts, idle_s=10) == []  # the generation starts now
    clock[0] = 109.0
    assert await check.kick_idle(consumer, 7, parts, idle_s=10) == []
    clock[0] = 111.0
    assert await check.kick_idle(consumer, 7, parts, idle_s=10) == [waiting]
    assert consumer.sought == [(waiting, 2)]
    await check.check(consumer, 7, waiting, 2)  # it delivers now: no more seeks
    consumer.ends[waiting] = 4
    clock[0] = 115.0
    assert await check.kick_idle(consumer, 7, parts, idle_s=10) == []
