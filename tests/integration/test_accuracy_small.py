"""The accuracy harness at a small size: three providers spelling the teams their own way (The Odds API's scores
and odds-only feeds, API-Sports' fixtures at its own slower cadence, STATSCORE's incidents pushed over RabbitMQ),
repeated and out-of-order polls, a provider outage, a worker killed with SIGKILL, a replay of the run's first
third in the middle, the same teams twice in a day; the audit must find nothing lost, no gap, no duplicate,
nothing moving back, and one canonical id per real fixture whichever providers serve it."""

from __future__ import annotations

import argparse

import pytest

from benchmarks.accuracy import run

pytestmark = pytest.mark.integration


@pytest.mark.timeout(300)
async def test_small_accuracy_run_under_sigkill_and_replay(stack):
    args = argparse.Namespace(matches=12, ticks=8, kill_worker=True, restart_broker=False, replay=True, quiet_s=8.0,
                              push=True)
    result = await run(args)
    assert result["expected_updates"] > 100
    assert result["worker_kills"] == 1
    assert result["replay_read"] > 0
    assert result["fixtures_of_several_providers"] >= 6  # soccer and basketball: the providers met
    served = result["provider_responses"]
    assert min(served.get(k, 0) for k in ("scores", "odds", "fixtures", "games", "incidents")) > 0, served
    assert result["push_delivered"] == served["incidents"]
    failures = {k: result[k] for k in ("lost", "duplicated", "wrong", "seq_gaps", "backwards_without_correction",
                                       "regressed_to_superseded_state", "conflicting_versions", "incomparable_served",
                                       "replay_published", "fixtures_merged", "fixtures_split")
                if result[k]}
    assert not failures, result
    assert result["ok"]
