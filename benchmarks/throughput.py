"""Raw updates per second through one worker process.

    python -m benchmarks.throughput --updates 30000 --repeat 3 [--backlog] [--stages floor]

Each run: a fresh worker (own app id) is started and ready; `updates` raw records (The Odds API
scores, one game each, every one a new score so every one is published) are produced as fast
as possible; the run ends when the worker has published the last canonical record. Baseline,
measured in the same run: a plain aiokafka consumer reading the same raw records (the ceiling
Kafka and this machine put on any consumer). Prints each run and the medians.

Live (default), the worker reads while the benchmark's producer writes, so its rate can be no higher
than the producer's on the same cores; `--backlog` produces everything while the worker is down
(SIGKILLed once ready) and times the restarted worker working it off: recovery after a crash, and
the worker's own rate. `--stages floor` runs the worker with both pure stages stubbed
(`benchmarks/shell_floor_app.py`): what the shells alone cost per update.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import statistics
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from benchmarks._load import score_update
from benchmarks._procs import ROOT, Worker
from benchmarks._spy import Spy
from benchmarks._stack import on_broker
from connectors.publisher import record_headers
from runtime.kafka import client_options, partitions_of
from runtime.settings import Settings
from schemas import topics


async def end_offsets(settings: Settings, topic: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=None)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in sorted(await partitions_of(consumer, topic))]
        consumer.assign(parts)
        return dict(await consumer.end_offsets(parts))
    finally:
        await consumer.stop()


async def produce(settings: Settings, run: str, updates: int, fixtures: int, first: int = 0) -> float:
    """Send updates `first` .. `first + updates - 1` of the run (fixture i % fixtures, version 1 + i // fixtures)."""
    producer = AIOKafkaProducer(**client_options(settings), acks="all", linger_ms=5, max_batch_size=1 << 20)
    await producer.start()
    try:
        started = time.perf_counter()
        batch = []
        for i in range(first, first + updates):
            envelope = score_update(run, i % fixtures, 1 + i // fixtures)
            batch.append(await producer.send(topics.raw_topic("theoddsapi"), value=envelope.to_json(),
                                             key=envelope.key.encode(), headers=record_headers(envelope)))
            if len(batch) >= 2000:
                await asyncio.gather(*batch)
                batch.clear()
        await asyncio.gather(*batch)
        return time.perf_counter() - started
    finally:
        await producer.stop()


async def consume_until(settings: Settings, start: dict[TopicPartition, int], want: int,
                        accept: Any, timeout_s: float, on_first: Any = None) -> tuple[int, float]:
    """Read from `start` until `want` accepted records; returns (count, seconds from first to last).
    `on_first()` is called when the first one is read."""
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=None, max_poll_records=10000,
                                fetch_max_bytes=64 << 20)
    await consumer.start()
    try:
        consumer.assign(list(start))
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        count, first, last = 0, None, None
        deadline = time.perf_counter() + timeout_s
        while count < want and time.perf_counter() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for messages in batches.values():
                for message in messages:
                    if accept(message):
                        count += 1
                        if first is None and on_first is not None:
                            on_first()
                        first = first or time.perf_counter()
                        last = time.perf_counter()
        return count, (last or 0) - (first or 0)
    finally:
        await consumer.stop()


# The Faust app a run's worker runs: the real one, or its shells with both stages stubbed (what they cost alone).
APPS = {"real": "pipeline.app", "floor": "benchmarks.shell_floor_app"}


def audit_versions(records: Iterable[tuple[bytes, dict[str, Any]]], updates: int) -> dict[str, int]:
    """What a consumer of canonical.events saw of a run, read back in topic order (`(key, record)` pairs):
    every update is a new score, so each one must come out once, in order, as the next version of its
    event. `lost`: updates whose score never came out; `doubled`: a version seen twice, or a score published
    again under a new version; `gaps`: a version that is not the one after the last (a skipped or repeated
    seq, or a new lineage); `backwards`: a score lower than the one before."""
    last: dict[bytes, tuple[int, int, int]] = {}  # key -> (epoch, seq, home score)
    seen: set[tuple[bytes, int, int]] = set()
    scores: set[tuple[bytes, int]] = set()
    doubled = gaps = backwards = 0
    for key, record in records:
        epoch, seq, home = int(record["epoch"]), int(record["seq"]), int(record["score"]["home"])
        if (key, epoch, seq) in seen:
            doubled += 1
            continue
        seen.add((key, epoch, seq))
        scores.add((key, home))
        before = last.get(key)
        if before is None:
            gaps += seq != 1
        else:
            gaps += (epoch, seq) != (before[0], before[1] + 1)
            backwards += home < before[2]
            doubled += home == before[2]  # every update is a new score: the same one twice is one update doubled
        last[key] = (epoch, seq, home)
    return {"audited": len(seen), "lost": max(updates - len(scores), 0), "doubled": doubled, "gaps": gaps,
            "backwards": backwards}


async def read_back(settings: Settings, start: dict[TopicPartition, int], want: int, accept: Any,
                    timeout_s: float = 120) -> list[tuple[bytes, dict[str, Any]]]:
    """The run's canonical records from `start`, in each partition's order, once the timing is over."""
    records: list[tuple[bytes, dict[str, Any]]] = []

    def keep(message: Any) -> bool:
        if accept(message):
            records.append((message.key, orjson.loads(message.value)))
            return True
        return False

    await consume_until(settings, start, want, keep, timeout_s)
    return records


async def one_run(settings: Settings, updates: int, fixtures: int, loop: str = "aio",
                  env: dict[str, str] | None = None, profile: Path | None = None, stages: str = "real",
                  backlog: bool = False) -> dict[str, Any]:
    """`backlog`: the worker is SIGKILLed once ready, the updates are produced while it is down, and the
    run times the restarted worker working them off (the producer no longer paces it)."""
    run = uuid.uuid4().hex[:8]
    worker = Worker(f"throughput-{run}", ROOT / ".stack" / "logs",
                    {**(env or {}), "SPORTSFLOW_PROCESSING__AUTO_OFFSET_RESET": "latest"}, loop=loop, app=APPS[stages])
    worker.start()
    raw_start = await end_offsets(settings, topics.raw_topic("theoddsapi"))
    out_start = await end_offsets(settings, topics.EVENTS)
    app_id = worker.app_id.encode()
    tag = f'"{run}-'.encode()  # this run's games only: the raw topics are shared with whatever else runs here

    def accept(message: Any) -> bool:
        return bool(dict(message.headers or []).get("sf-app") == app_id and tag in message.value)

    produce_s = 0.0
    if backlog:
        worker.kill()  # a crash: its raw offsets are committed where it started (agents/intake.py: _pin_start)
        produce_s = await produce(settings, run, updates, fixtures)
        worker.start(wait_ready=False)
    spy = Spy(worker.proc.pid, profile / f"throughput-{run}") if profile and worker.proc else None
    try:
        cpu0 = 0.0 if backlog else worker.cpu_seconds()  # a restarted worker: its start and recovery count too
        produce_task = None if backlog else asyncio.create_task(produce(settings, run, updates, fixtures))
        t0 = time.perf_counter()
        cpu_at_first: list[float] = []
        published, first_to_last_s = await consume_until(
            settings, out_start, updates, accept, timeout_s=600,
            on_first=lambda: cpu_at_first.append(worker.cpu_seconds()))
        worker_s = time.perf_counter() - t0
        cpu_end = worker.cpu_seconds()
        cpu_s = cpu_end - cpu0
        if produce_task is not None:
            produce_s = await produce_task
    finally:
        if spy:
            spy.stop()
        worker.stop()
    # Baseline: the same records read by a bare consumer (no processing at all).
    t1 = time.perf_counter()
    raw_read, _ = await consume_until(settings, raw_start, updates,
                                      lambda m: m.key is not None and m.key.startswith(run.encode()), 120)
    baseline_s = time.perf_counter() - t1
    baseline = round(raw_read / baseline_s)
    # The stand-in stages publish raw envelopes: only the real worker's versions can be audited.
    audit = audit_versions(await read_back(settings, out_start, published, accept), updates) if stages == "real" else {}
    return {"loop": loop, "stages": stages, "backlog": backlog, "updates": updates, "published": published,
            "worker_s": round(worker_s, 2), "worker_updates_per_s": round(updates / worker_s),
            # From the first canonical record to the last: the rate once the worker is going (after its start).
            "steady_updates_per_s": round(updates / first_to_last_s) if first_to_last_s else 0,
            "produce_s": round(produce_s, 2),
            "worker_cpu_us_per_update": round(1e6 * cpu_s / updates, 1),
            "worker_updates_per_cpu_s": round(updates / cpu_s) if cpu_s else 0,
            # CPU from the first canonical record to the last, per update: without the worker's start.
            "steady_cpu_us_per_update": round(1e6 * (cpu_end - cpu_at_first[0]) / updates, 1) if cpu_at_first else 0,
            "baseline_consumer_updates_per_s": baseline,
            "ratio_to_baseline": round(updates / worker_s / baseline, 4), **audit}


async def main_async(args: argparse.Namespace) -> None:
    await on_broker(args.own_broker, functools.partial(play, args))


async def play(args: argparse.Namespace, settings: Settings, env: dict[str, str]) -> None:
    runs = []
    loops = args.loops.split(",")
    for i in range(args.repeat * len(loops)):  # alternating, so drifting load hits every loop alike
        result = await one_run(settings, args.updates, args.fixtures, loops[i % len(loops)], env, args.profile,
                               stages=args.stages, backlog=args.backlog)
        print(json.dumps(result))
        runs.append(result)
    for loop in loops:
        print(json.dumps({"loop": loop, **summary([r for r in runs if r["loop"] == loop])}))


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the runs; the ratio is each run's own (worker / same-run bare consumer), then the median."""
    return {
        "median_worker_updates_per_s": statistics.median(r["worker_updates_per_s"] for r in runs),
        "median_steady_updates_per_s": statistics.median(r["steady_updates_per_s"] for r in runs),
        "median_baseline_consumer_updates_per_s": statistics.median(r["baseline_consumer_updates_per_s"]
                                                                   for r in runs),
        "median_ratio_to_baseline": statistics.median(r["ratio_to_baseline"] for r in runs),
        "median_worker_cpu_us_per_update": statistics.median(r["worker_cpu_us_per_update"] for r in runs),
        "median_worker_updates_per_cpu_s": statistics.median(r["worker_updates_per_cpu_s"] for r in runs),
        "median_steady_cpu_us_per_update": statistics.median(r["steady_cpu_us_per_update"] for r in runs),
        "all_published": all(r["published"] == r["updates"] for r in runs),
        # Summed over the runs: any one is a failure (absent when the stand-in stages ran: nothing to audit).
        **({k: sum(r[k] for r in runs) for k in ("audited", "lost", "doubled", "gaps", "backwards")}
           if all("audited" in r for r in runs) else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=30000)
    parser.add_argument("--fixtures", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--loops", default="aio", help="event loops to alternate, e.g. aio,uvloop (runs: repeat each)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="record py-spy flame graphs and collapsed stacks of each run's worker into this dir")
    parser.add_argument("--stages", choices=sorted(APPS), default="real",
                        help="floor: the worker's shells with both stages stubbed (benchmarks/shell_floor_app.py)")
    parser.add_argument("--backlog", action="store_true",
                        help="produce while the worker is down (SIGKILL), then time the restarted worker draining it")
    parser.add_argument("--own-broker", action="store_true",
                        help="a private Kafka broker for the whole run (nothing else publishes to its raw topics)")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
