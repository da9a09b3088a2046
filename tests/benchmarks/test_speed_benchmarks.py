"""The speed benchmarks' own logic, without Kafka: reading partition shares from worker logs, the summary."""

from __future__ import annotations

from benchmarks.scaleout import resolve_share, stage_one_share
from benchmarks.throughput import summary

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
             "worker_cpu_us_per_update": c, "worker_updates_per_cpu_s": round(1e6 / c), "published": 10, "updates": 10}
            for w, b, c in ((100, 1000, 300.0), (300, 1000, 250.0), (200, 4000, 400.0))]
    result = summary(runs)
    assert result["median_ratio_to_baseline"] == 0.1  # not median(w) / median(b) = 0.2
    assert result["median_worker_cpu_us_per_update"] == 300.0
    assert result["all_published"]
