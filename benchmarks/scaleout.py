"""Scale-out: two worker processes of one app on the same topics, against one worker in the same run.

    python -m benchmarks.scaleout --updates 20000 --repeat 3

Each run, with fresh app ids:
1. one worker: `updates` raw score updates, until its last canonical record: updates per worker
   CPU-second (user + system of the process) — the baseline;
2. two workers of one app id, both ready (partitions shared): the same load; updates per CPU-second
   of both processes together, and how the raw partitions (stage 1) and resolve partitions (stage 2,
   Faust's assignment) were split between them;
3. one of the two is SIGKILLed and another `updates / 2` are sent: the survivor must publish every
   one of them (its partitions move after the session timeout), and the seconds until it did.

On a 2-core box shared with Kafka, wall-clock throughput cannot double; the figure is efficiency
(CPU per update with two workers against one). Prints each run and the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import time
import uuid
from typing import Any

import orjson

from benchmarks._procs import ROOT, Worker
from benchmarks.throughput import consume_until, end_offsets, produce
from runtime.settings import Settings
from schemas import topics

LOGS = ROOT / ".stack" / "logs"
ENV = {"SPORTSFLOW_PROCESSING__AUTO_OFFSET_RESET": "latest"}


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


async def measure(settings: Settings, workers: list[Worker], run: str, updates: int, fixtures: int,
                  first: int = 0) -> dict[str, Any]:
    """Send `updates` (versions after `first`) and wait for all; returns seconds and CPU of the live workers."""
    app_id = workers[0].app_id.encode()
    out_start = await end_offsets(settings, topics.EVENTS)
    live = [w for w in workers if w.alive()]
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
    cpu = sum(w.cpu_seconds() - c for w, c in zip(live, cpu0, strict=True))
    await producing
    return {"updates": updates, "published": min(published, updates), "seconds": round(seconds, 2),
            "cpu_s": round(cpu, 2), "updates_per_cpu_s": round(updates / cpu) if cpu else 0}


async def one_run(settings: Settings, updates: int, fixtures: int) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    solo = Worker(f"scaleout-solo-{run}", LOGS, ENV)
    solo.start()
    try:
        whole = (stage_one_share(solo.log_text()), resolve_share(solo.log_text(), solo.app_id))
        one = await measure(settings, [solo], run, updates, fixtures)
    finally:
        solo.stop()
    app_id = f"scaleout-duo-{run}"
    duo = [Worker(app_id, LOGS, ENV, name=f"{app_id}-{i}") for i in (1, 2)]
    run2 = f"{run}d"
    try:
        for worker in duo:
            worker.start()
        await wait_split(duo, app_id, whole)  # both read before anything is sent (auto_offset_reset=latest)
        two = await measure(settings, duo, run2, updates, fixtures)
        shares = [(stage_one_share(w.log_text()), resolve_share(w.log_text(), app_id)) for w in duo]
        killed_at = time.perf_counter()
        duo[1].kill()
        after = await measure(settings, duo, run2, updates // 2, fixtures, first=updates)
        failover_s = time.perf_counter() - killed_at
        survivor = (stage_one_share(duo[0].log_text()), resolve_share(duo[0].log_text(), app_id))
    finally:
        for worker in duo:
            worker.stop()
    return {
        "one_worker": one, "two_workers": two,
        "efficiency_ratio": round(two["updates_per_cpu_s"] / one["updates_per_cpu_s"], 3),
        "shares_raw_resolve": shares, "after_kill": after, "after_kill_lost": after["updates"] - after["published"],
        "kill_to_all_published_s": round(failover_s, 1), "survivor_raw_resolve": survivor,
    }


async def main_async(args: argparse.Namespace) -> None:
    settings = Settings()
    runs = []
    for _ in range(args.repeat):
        result = await one_run(settings, args.updates, args.fixtures)
        print(json.dumps(result))
        runs.append(result)
    print(json.dumps({
        "median_one_worker_updates_per_cpu_s": statistics.median(r["one_worker"]["updates_per_cpu_s"] for r in runs),
        "median_two_workers_updates_per_cpu_s": statistics.median(r["two_workers"]["updates_per_cpu_s"]
                                                                  for r in runs),
        "median_efficiency_ratio": statistics.median(r["efficiency_ratio"] for r in runs),
        "median_kill_to_all_published_s": statistics.median(r["kill_to_all_published_s"] for r in runs),
        "lost_after_kill": sum(r["after_kill_lost"] for r in runs),
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=20000)
    parser.add_argument("--fixtures", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
