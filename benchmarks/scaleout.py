"""Scale-out: two worker processes of one app on the same topics, against one worker in the same run.

    python -m benchmarks.scaleout --updates 20000 --repeat 3

Each run, with fresh app ids:
1. one worker: `updates` raw score updates, until its last canonical record: updates per worker
   CPU-second (user + system of the process) — the baseline;
2. two workers of one app id, both ready (partitions shared): the same load; updates per CPU-second
   of both processes together, and how the raw partitions (stage 1) and resolve partitions (stage 2,
   Faust's assignment) were split between them;
3. one of the two is SIGKILLed and another `updates / 2` are sent: the survivor must publish every
   one of them (its partitions move after the session timeout), and the seconds until it did. The
   survivor runs under a supervisor, as in a deployment: a worker that stops itself to read again from
   its last commit is started again (`survivor_restarts` says how often).

On a 2-core box shared with Kafka, wall-clock throughput cannot double; the figure is efficiency
(CPU per update with two workers against one). Prints each run and the medians.

Where the efficiency goes:
- `--standby 1,0` alternates runs with Faust's standby table replicas on and off
  (`TABLE_STANDBY_REPLICAS`, read by Faust from the environment; default 1);
- `--idle-s N` measures each worker's CPU while idle for N s before the load (heartbeats, timers,
  followers), so fixed background cost can be told from cost per update;
- `--profile DIR` records py-spy flame graphs and collapsed stacks of every worker during the load,
  and prints the share of samples in standby-replica work, stage 1, stage 2 and Faust's consumer;
- `--own-broker` runs everything on a private Kafka broker (nothing else publishes to its raw topics).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import re
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from benchmarks._procs import ROOT, Worker
from benchmarks._spy import Spy, shares
from benchmarks._stack import on_broker
from benchmarks.throughput import consume_until, end_offsets, produce
from pipeline.provision import ensure_topics
from runtime.settings import Settings
from schemas import topics

LOGS = ROOT / ".stack" / "logs"
ENV = {"SPORTSFLOW_PROCESSING__AUTO_OFFSET_RESET": "latest"}
# Where a worker's samples go (first match in the stack wins), for --profile.
PARTS = {
    "standby replicas (changelog read and applied)": "_slurp_changelogs",
    "other faust table recovery": "faust/tables/recovery.py",
    "stage 2 pure (process_candidates)": "process_candidates",
    "stage 2 agent (resolve_and_order)": "resolve_and_order",
    "stage 1 pure (process_raw)": "process_raw",
    "stage 1 loop (intake)": "agents/intake.py",
    "faust consumer/transport": "faust/transport",
    "aiokafka": "aiokafka/",
}


def stage_one_share(log: str) -> int:
    """Raw partitions in the worker's latest stage-1 assignment."""
    found = re.findall(r"stage 1 assigned (\d+) raw partitions", log)
    return int(found[-1]) if found else 0


def resolve_share(log: str, app_id: str) -> int:
    """Resolve-topic partitions in Faust's latest assignment table for this worker."""
    found = re.findall(re.escape(f"{app_id}.resolve") + r"\s*\|\s*\{([^}]*)\}", log)
    if not found:
        return 0
    count = 0
    for part in found[-1].split(","):
        low, _, high = part.strip().partition("-")
        count += int(high or low) - int(low) + 1
    return count


async def wait_split(workers: list[Worker], app_id: str, whole: tuple[int, int], timeout_s: float = 60) -> None:
    """Until the workers' latest assignments together cover every raw and resolve partition."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        logs = [w.log_text() for w in workers]
        if (sum(stage_one_share(t) for t in logs), sum(resolve_share(t, app_id) for t in logs)) == whole:
            await asyncio.sleep(1)  # positions of the newly assigned partitions are fetched
            return
        await asyncio.sleep(0.5)
    raise RuntimeError(f"partitions not split between {len(workers)} workers in {timeout_s}s")


async def app_topics(settings: Settings, app_id: str) -> None:
    """The app's resolve topic and changelogs, created before its workers start. A worker that creates
    one itself can join its group before the topic is in its metadata ("Ignoring missing topic"): seen
    here as a worker with no resolve partition at all, and as a standby that never caught up (a resolve
    partition stalled, nothing committed). Retention, not compaction: these runs last minutes."""
    await ensure_topics(settings, [topics.resolve_topic(app_id),
                                   *(f"{app_id}-{table}-changelog" for table in ("entities", "fixtures"))])


async def idle_cpu(workers: list[Worker], seconds: float) -> list[float]:
    """Cores each worker uses while nothing is sent (background: heartbeats, timers, followers)."""
    if seconds <= 0:
        return [0.0 for _ in workers]
    cpu0 = [w.cpu_seconds() for w in workers]
    await asyncio.sleep(seconds)
    return [round((w.cpu_seconds() - c) / seconds, 4) for w, c in zip(workers, cpu0, strict=True)]


async def measure(settings: Settings, workers: list[Worker], run: str, updates: int, fixtures: int,
                  first: int = 0, profile: Path | None = None) -> dict[str, Any]:
    """Send `updates` (versions after `first`) and wait for all; returns seconds and CPU of the live workers."""
    app_id = workers[0].app_id.encode()
    out_start = await end_offsets(settings, topics.EVENTS)
    # Records on the app's own topics per update: stage 1's packed batches, stage 2's changelog writes.
    internal = [topics.resolve_topic(workers[0].app_id), f"{workers[0].app_id}-entities-changelog"]
    internal_start = [sum((await end_offsets(settings, topic)).values()) for topic in internal]
    live = [w for w in workers if w.alive()]
    spies = [Spy(w.proc.pid, profile / w.log_path.stem) for w in live if w.proc] if profile else []
    cpu0 = [w.cpu_seconds() for w in live]
    producing = asyncio.create_task(produce(settings, run, updates, fixtures, first=first))
    started = time.perf_counter()
    seen: set[tuple[str, str]] = set()

    def new_update(message: Any) -> bool:
        """An update of this app not seen before: a game's score names the update (a repeat after the kill,
        or the same update published again, is not a new one)."""
        if dict(message.headers or []).get("sf-app") != app_id:
            return False
        record = orjson.loads(message.value)
        update = (str(record.get("providerEventId")), orjson.dumps(record.get("score")).decode())
        if update in seen:
            return False
        seen.add(update)
        return True

    published, _ = await consume_until(settings, out_start, updates, new_update, timeout_s=300)
    seconds = time.perf_counter() - started
    each = [w.cpu_seconds() - c for w, c in zip(live, cpu0, strict=True)]
    cpu = sum(each)
    for spy in spies:
        spy.stop()
    await producing
    internal_end = [sum((await end_offsets(settings, topic)).values()) for topic in internal]
    result: dict[str, Any] = {
        "updates": updates, "published": min(published, updates), "seconds": round(seconds, 2),
        "resolve_records": internal_end[0] - internal_start[0],
        "changelog_records": internal_end[1] - internal_start[1],
        "cpu_s": round(cpu, 2), "cpu_s_each": [round(c, 2) for c in each],
        "updates_per_cpu_s": round(updates / cpu) if cpu else 0}
    if profile:
        result["profile"] = {w.log_path.stem: shares(profile / f"{w.log_path.stem}.txt", PARTS) for w in live}
    return result


async def one_run(settings: Settings, env: dict[str, str], updates: int, fixtures: int, standby: int,
                  idle_s: float, profile: Path | None) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    env = {**ENV, **env, "TABLE_STANDBY_REPLICAS": str(standby)}
    solo = Worker(f"scaleout-solo-{run}", LOGS, env)
    await app_topics(settings, solo.app_id)
    solo.start()
    try:
        whole = (stage_one_share(solo.log_text()), resolve_share(solo.log_text(), solo.app_id))
        idle_one = await idle_cpu([solo], idle_s)
        one = await measure(settings, [solo], run, updates, fixtures, profile=profile)
    finally:
        solo.stop()
    app_id = f"scaleout-duo-{run}"
    duo = [Worker(app_id, LOGS, env, name=f"{app_id}-{i}") for i in (1, 2)]
    run2 = f"{run}d"
    await app_topics(settings, app_id)
    try:
        for worker in duo:
            worker.start()
        await wait_split(duo, app_id, whole)  # both read before anything is sent (auto_offset_reset=latest)
        idle_two = await idle_cpu(duo, idle_s)
        two = await measure(settings, duo, run2, updates, fixtures, profile=profile)
        shares = [(stage_one_share(w.log_text()), resolve_share(w.log_text(), app_id)) for w in duo]
        killed_at = time.perf_counter()
        duo[1].kill()
        stop = asyncio.Event()
        restarts = asyncio.create_task(supervise(duo[0], stop))
        try:
            after = await measure(settings, duo, run2, updates // 2, fixtures, first=updates)
        finally:
            stop.set()
        failover_s = time.perf_counter() - killed_at
        survivor = (stage_one_share(duo[0].log_text()), resolve_share(duo[0].log_text(), app_id))
    finally:
        for worker in duo:
            worker.stop()
    return {
        "standby_replicas": standby, "one_worker": one, "two_workers": two,
        "efficiency_ratio": round(two["updates_per_cpu_s"] / one["updates_per_cpu_s"], 3),
        "idle_cores_one": idle_one, "idle_cores_two": idle_two,
        "efficiency_ratio_less_idle": less_idle(one, two, idle_one, idle_two),
        "shares_raw_resolve": shares, "after_kill": after, "after_kill_lost": after["updates"] - after["published"],
        "kill_to_all_published_s": round(failover_s, 1), "survivor_raw_resolve": survivor,
        "survivor_restarts": await restarts,
    }


async def supervise(worker: Worker, stop: asyncio.Event) -> int:
    """Start `worker` again whenever it exits on its own, as ECS or systemd would; returns how often.

    A worker stops itself when it must read again from its last commit (`agents/liveness.py`: a hole in a
    resolve partition after a rebalance, a commit that no longer moves); without a supervisor its updates
    would count as lost here although a deployment loses none of them.
    """
    restarts = 0
    while not stop.is_set():
        if not worker.alive():
            worker.start(wait_ready=False)
            restarts += 1
        await asyncio.sleep(0.5)
    return restarts


def less_idle(one: dict[str, Any], two: dict[str, Any], idle_one: list[float], idle_two: list[float]) -> float | None:
    """The efficiency ratio with each worker's idle CPU (times the run's seconds) taken out of both sides."""
    if not any(idle_one):
        return None
    cpu_one = one["cpu_s"] - sum(idle_one) * one["seconds"]
    cpu_two = two["cpu_s"] - sum(idle_two) * two["seconds"]
    return round((two["updates"] / cpu_two) / (one["updates"] / cpu_one), 3) if cpu_one > 0 and cpu_two > 0 else None


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    less = [r["efficiency_ratio_less_idle"] for r in runs if r["efficiency_ratio_less_idle"] is not None]
    return {
        "standby_replicas": runs[0]["standby_replicas"],
        "median_one_worker_updates_per_cpu_s": statistics.median(r["one_worker"]["updates_per_cpu_s"] for r in runs),
        "median_two_workers_updates_per_cpu_s": statistics.median(r["two_workers"]["updates_per_cpu_s"]
                                                                  for r in runs),
        "median_efficiency_ratio": statistics.median(r["efficiency_ratio"] for r in runs),
        "median_efficiency_ratio_less_idle": statistics.median(less) if less else None,
        "median_kill_to_all_published_s": statistics.median(r["kill_to_all_published_s"] for r in runs),
        "lost_after_kill": sum(r["after_kill_lost"] for r in runs),
        "survivor_restarts": sum(r["survivor_restarts"] for r in runs),
    }


async def main_async(args: argparse.Namespace) -> None:
    await on_broker(args.own_broker, functools.partial(play, args))


async def play(args: argparse.Namespace, settings: Settings, env: dict[str, str]) -> None:
    standbys = [int(s) for s in args.standby.split(",")]
    runs = []
    for i in range(args.repeat * len(standbys)):  # alternating, so drifting load hits every setting alike
        result = await one_run(settings, env, args.updates, args.fixtures, standbys[i % len(standbys)],
                               args.idle_s, args.profile)
        print(json.dumps(result), flush=True)
        runs.append(result)
    for standby in reversed(standbys):  # the last line is the first listed setting (`make bench` reads it)
        print(json.dumps(summary([r for r in runs if r["standby_replicas"] == standby])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=20000)
    parser.add_argument("--fixtures", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--standby", default="1", help="standby replicas per table partition to alternate, e.g. 1,0")
    parser.add_argument("--idle-s", type=float, default=5.0, help="seconds of idle CPU measured before each load")
    parser.add_argument("--profile", type=Path, default=None, help="py-spy every worker; SVG + stacks to this dir")
    parser.add_argument("--own-broker", action="store_true", help="a private Kafka broker for the whole run")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
