"""The accuracy harness at a small size: real connectors, Kafka, a worker killed with SIGKILL, a replay of the
run's first third in the middle, the same teams twice in a day; the audit must find nothing lost, no gap, no
duplicate, nothing moving back, and one canonical id per fixture."""

from __future__ import annotations

import argparse

import pytest

from benchmarks.accuracy import run

pytestmark = pytest.mark.integration


@pytest.mark.timeout(300)
async def test_small_accuracy_run_under_sigkill_and_replay(stack):
    args = argparse.Namespace(matches=12, ticks=8, kill_worker=True, restart_broker=False, replay=True, quiet_s=8.0)
    result = await run(args)
    assert result["expected_updates"] > 100
    assert result["worker_kills"] == 1
    assert result["replay_read"] > 0
    failures = {k: result[k] for k in ("lost", "duplicated", "wrong", "seq_gaps", "backwards_without_correction",
                                       "conflicting_versions", "replay_published", "fixtures_merged", "fixtures_split")
                if result[k]}
    assert not failures, result
    assert result["ok"]
