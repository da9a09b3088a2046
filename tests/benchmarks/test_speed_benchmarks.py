"""The speed benchmarks' own logic, without Kafka: reading partition shares from worker logs, the summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents import packing
from agents.stages.resolve import route_key
from benchmarks import shell_floor
from benchmarks._load import score_update
from benchmarks._spy import shares
from benchmarks.instructions import score_corpus
from benchmarks.latency import split
from benchmarks.scaleout import less_idle, resolve_share, stage_one_share
from benchmarks.throughput import audit_versions, summary

FAUST_TABLE = """
+Topic Partition Set-------------------------+------------+
| topic                                      | partitions |
+--------------------------------------------+------------+
| scaleout-duo-1-__assignor-__leader         | {0}        |
| scaleout-duo-1-entities-changelog          | {0-3}      |
| scaleout-duo-1.resolve                     | {0-3}      |
+--------------------------------------------+------------+ for group scaleout-duo-1
later, after the second worker joined:
| scaleout-duo-1.resolve                     | {1, 3}     |
"""


def test_the_latest_assignment_of_each_stage_is_read_from_the_log():
    assert resolve_share(FAUST_TABLE, "scaleout-duo-1") == 2
    assert resolve_share("| scaleout-duo-1.resolve | {0-3} |", "scaleout-duo-1") == 4
    assert resolve_share("| other.resolve | {0-3} |", "scaleout-duo-1") == 0
    log = "stage 1 assigned 24 raw partitions: ...\nstage 1 assigned 12 raw partitions: ..."
    assert stage_one_share(log) == 12
    assert stage_one_share("nothing yet") == 0


def test_the_ratio_is_each_runs_own_then_the_median():
    runs = [{"worker_updates_per_s": w, "baseline_consumer_updates_per_s": b, "ratio_to_baseline": round(w / b, 4),
             "worker_cpu_us_per_update": c, "worker_updates_per_cpu_s": round(1e6 / c), "published": 10, "updates": 10,
             "steady_updates_per_s": 2 * w, "steady_cpu_us_per_update": c - 10}
            for w, b, c in ((100, 1000, 300.0), (300, 1000, 250.0), (200, 4000, 400.0))]
    result = summary(runs)
    assert result["median_ratio_to_baseline"] == 0.1  # not median(w) / median(b) = 0.2
    assert result["median_worker_cpu_us_per_update"] == 300.0
    assert (result["median_steady_updates_per_s"], result["median_steady_cpu_us_per_update"]) == (400, 290.0)
    assert result["all_published"]


def test_every_fixture_of_the_load_has_a_route_of_its_own():
    """Like real games: the load spreads over the resolve partitions (with "Home <run> <n>" names every
    fixture shared one route, so one resolve partition and one fixture list held the whole run)."""
    routes = {route_key_of_update(score_update("ab12cd34", n, 1)) for n in range(500)}
    assert len(routes) == 500


def route_key_of_update(envelope: Any) -> str:
    game = envelope.payload[0]
    return route_key({"type": "event", "sport": game["sport_key"], "homeTeam": game["home_team"],
                      "awayTeam": game["away_team"]})


def test_latency_is_split_by_hop_where_the_resolve_tap_saw_the_update():
    stamps = {"provider": 990, "received": 1000, "published": 1030, "hub": 1035, "sent": 1036}
    parts = split(stamps, 1040.0, resolved_ms=1004)
    assert (parts["stage_one"], parts["stage_two"], parts["engine"]) == (4, 26, 30)
    assert (parts["to_broadcaster"], parts["fan_out"], parts["socket"], parts["provider_lag"]) == (5, 1, 4, 10)
    assert "stage_one" not in split(stamps, 1040.0)


def test_profile_shares_count_a_stack_for_its_first_matching_part(tmp_path: Path):
    stacks = tmp_path / "w.txt"
    stacks.write_text("main;Recovery._slurp_changelogs;x 30\nmain;process_candidates;resolve_and_order 50\n"
                      "main;select 20\n")
    assert shares(stacks, {"standby": "_slurp_changelogs", "stage 2": "resolve_and_order"}) == {
        "standby": 0.3, "stage 2": 0.5, "other": 0.2, "samples": 100}


def test_idle_cpu_is_taken_out_of_both_sides_of_the_efficiency_ratio():
    one = {"updates": 1000, "cpu_s": 1.1, "seconds": 10.0}
    two = {"updates": 1000, "cpu_s": 1.4, "seconds": 10.0}
    assert less_idle(one, two, [0.01], [0.01, 0.01]) == round((1000 / 1.2) / (1000 / 1.0), 3)
    assert less_idle(one, two, [0.0], [0.0, 0.0]) is None


def test_the_counted_updates_are_the_same_bytes_in_every_run():
    """The instruction count is the difference of two runs: they must feed the same input."""
    first, second = score_corpus(updates=100, fixtures=10), score_corpus(updates=100, fixtures=10)
    assert len(first) == 100
    assert [(r.value, r.headers) for r in first] == [(r.value, r.headers) for r in second]


def test_the_shell_floor_stages_carry_each_raw_record_through_both_hops_keyed_by_its_key():
    """The stubs keep what the throughput benchmark counts (the run's tag in the value, one record per
    update, one state per key) and go through the real packing between the stages."""
    envelope = score_update("ab12cd34", 7, 3)
    raw = envelope.to_json()
    processed = shell_floor.stage_one("raw.theoddsapi", 0, 5, raw, [("sf-received-ts", b"1")])
    (candidate,) = processed.records
    assert candidate.key == b"floor|ab12cd34-7"
    (packed,) = packing.pack([packing.Candidate(candidate.key, candidate.value, candidate.headers)])
    (unpacked,) = packing.unpack(None, packed, [])
    result = shell_floor.stage_two(unpacked.route.decode(), unpacked.value, unpacked.headers, [], lambda _key: None)
    (out,) = result.outputs
    assert (out.topic, out.key, out.value) == ("canonical.events", b"ab12cd34-7", raw)
    assert list(result.entities) == ["ab12cd34-7"]


def test_the_version_audit_finds_a_lost_a_doubled_and_an_out_of_order_update():
    def event(seq: int, home: int, epoch: int = 7) -> dict[str, Any]:
        return {"epoch": epoch, "seq": seq, "score": {"home": home, "away": 0}}

    clean = [(b"a", event(1, 1)), (b"b", event(1, 1)), (b"a", event(2, 2)), (b"b", event(2, 2))]
    assert audit_versions(clean, updates=4) == {"audited": 4, "lost": 0, "doubled": 0, "gaps": 0, "backwards": 0}
    assert audit_versions(clean[:3], updates=4)["lost"] == 1
    assert audit_versions([*clean, clean[2]], updates=4)["doubled"] == 1
    swapped = [(b"a", event(2, 2)), (b"a", event(1, 1))]
    assert audit_versions(swapped, updates=2)["gaps"] == 2  # starts at seq 2, then goes back to 1
    republished = [(b"a", event(1, 1)), (b"a", event(2, 1))]  # the same score again as the next version
    assert audit_versions(republished, updates=2) == {"audited": 2, "lost": 1, "doubled": 1, "gaps": 0,
                                                     "backwards": 0}
    frozen_back = [(b"a", event(1, 2)), (b"a", event(2, 1))]
    assert audit_versions(frozen_back, updates=2)["backwards"] == 1
    relineage = [(b"a", event(1, 1)), (b"a", event(1, 2, epoch=9))]
    assert audit_versions(relineage, updates=2)["gaps"] == 1
