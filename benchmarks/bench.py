"""`make bench`: every speed benchmark at a size that fits in a few minutes, each figure with its same-run baseline.

    python -m benchmarks.bench [--quick]

Runs, one after the other (each a fresh worker per run, medians of 3 runs):
- throughput: raw updates/s through one worker against a bare aiokafka consumer reading the same
  records in the same run (target: ratio >= 0.10), and worker CPU per update;
- recovery: a backlog produced while the worker is down (SIGKILL), drained by the restarted worker
  (target: >= 20,000/s on a quiet box), against the same bare consumer; and the same backlog through
  the worker with both pure stages stubbed (`benchmarks/shell_floor.py`): what the shells alone
  cost, so the rest of the CPU per update is the stages';
- latency: raw receipt -> WebSocket frame at 2,000 updates/s with 1,000 clients against a bare Kafka
  produce -> consume hop at the same rate in the same run (target: p99 ratio <= 4);
- scale-out: updates per worker CPU-second with two workers against one in the same run (target:
  ratio >= 0.85), and no update lost when one of the two is killed; alternating runs with Faust's
  standby table replicas on (the default) and off, since the standby's changelog reading is where
  most of the second worker's extra CPU goes.
Each benchmark runs on a private Kafka broker of its own (`--own-broker`): nothing else on the box
publishes to its raw topics, and the shared broker is never loaded.
`--quick` runs one repetition each at a smaller size (a smoke test of the benchmarks themselves).
Prints every run's JSON as it comes, then one summary line per figure.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

from benchmarks._procs import ROOT


def run(module: str, *args: str) -> list[dict[str, Any]]:
    """Run `python -m module args`, echo its output, return its summary JSON lines (the medians: the lines
    after the last run's, i.e. those holding a "median" key), the last one last."""
    print(f"$ python -m {module} {' '.join(args)}", flush=True)
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    print(proc.stdout, end="", flush=True)
    if proc.returncode != 0:
        print(proc.stderr[-4000:], file=sys.stderr)
        raise SystemExit(f"{module} failed with exit code {proc.returncode}")
    lines = [json.loads(line) for line in proc.stdout.strip().splitlines() if line.startswith("{")]
    return [line for line in lines if any(key.startswith("median") for key in line)] or lines[-1:]


def backlog_line(result: dict[str, Any]) -> str:
    return (f"{result['median_worker_updates_per_s']:,} updates/s from the restart "
            f"({result['median_steady_updates_per_s']:,}/s once publishing; "
            f"{result['median_steady_cpu_us_per_update']} us CPU/update) vs same-run bare consumer "
            f"{result['median_baseline_consumer_updates_per_s']:,}/s -> ratio {result['median_ratio_to_baseline']}")


def audit_text(result: dict[str, Any]) -> str:
    """What the canonical topic, read back after every run, held of the runs' updates (summed over the runs)."""
    return (f"read back: {result['audited']:,} versions, {result['lost']} lost, {result['doubled']} doubled, "
            f"{result['gaps']} gaps, {result['backwards']} backwards; all published: {result['all_published']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeat = "1" if args.quick else "3"
    throughput = run("benchmarks.throughput", "--own-broker", "--updates", "5000" if args.quick else "20000",
                     "--repeat", repeat)[-1]
    backlog = "20000" if args.quick else "100000"
    recovery = run("benchmarks.throughput", "--own-broker", "--updates", backlog, "--repeat", repeat, "--backlog")[-1]
    floor = run("benchmarks.throughput", "--own-broker", "--updates", backlog, "--repeat", repeat, "--backlog",
                "--stages", "floor")[-1]
    latency = run("benchmarks.latency", "--own-broker", "--rate", "2000", "--seconds", "5" if args.quick else "15",
                  "--clients", "100" if args.quick else "1000", "--repeat", repeat)[-1]
    scaleouts = run("benchmarks.scaleout", "--own-broker", "--updates", "4000" if args.quick else "16000",
                    "--repeat", repeat, "--standby", "1,0")
    lines = [
        f"throughput: {throughput['median_worker_updates_per_s']:,} updates/s vs same-run bare consumer "
        f"{throughput['median_baseline_consumer_updates_per_s']:,}/s -> ratio {throughput['median_ratio_to_baseline']}"
        f" (target >= 0.10); worker CPU {throughput['median_worker_cpu_us_per_update']} us/update "
        f"({throughput['median_worker_updates_per_cpu_s']:,} updates per CPU-second); {audit_text(throughput)}",
        f"recovery, a backlog of {int(backlog):,} after a SIGKILL: {backlog_line(recovery)} (target >= 20,000/s); "
        f"{audit_text(recovery)}",
        f"shells alone (stages stubbed), same backlog: {backlog_line(floor)}; the stages' share: "
        f"{round(recovery['median_steady_cpu_us_per_update'] - floor['median_steady_cpu_us_per_update'], 1)} us/update",
        f"latency at 2,000/s: p50 {latency['p50_ms']} ms, p99 {latency['p99_ms']} ms vs same-run bare Kafka hop "
        f"p50 {latency['kafka_only_p50_ms']} ms, p99 {latency['kafka_only_p99_ms']} ms -> p99 ratio "
        f"{latency['p99_ratio_to_kafka']} (target <= 4); p99 by hop: stage 1 {latency['stage_one_p99_ms']} ms, "
        f"stage 2 {latency['stage_two_p99_ms']} ms, to broadcaster {latency['to_broadcaster_p99_ms']} ms, "
        f"fan-out {latency['fan_out_p99_ms']} ms, socket {latency['socket_p99_ms']} ms",
        *(f"scale-out, standby replicas {s['standby_replicas']}: two workers "
          f"{s['median_two_workers_updates_per_cpu_s']:,} updates per CPU-second vs one worker "
          f"{s['median_one_worker_updates_per_cpu_s']:,} (same run) -> ratio {s['median_efficiency_ratio']} "
          f"(target >= 0.85); one of two killed: {s['lost_after_kill']} lost (survivor restarted by the "
          f"benchmark's supervisor {s['survivor_restarts']} times), all published "
          f"{s['median_kill_to_all_published_s']} s after the kill" for s in scaleouts),
    ]
    print("\n".join(["", "== make bench: medians, each with its same-run baseline ==", *lines]))


if __name__ == "__main__":
    main()
