"""State size: worker memory and restart-to-ready time with many live entities in its tables.

    python -m benchmarks.state_size --entities 100000 1000000 --runs 3

Starts its own Kafka broker (free ports, private home: the shared one is never filled or
restarted), seeds the worker's `entities` and `fixtures` changelogs with N live entity states
(the states the worker itself writes: built by the pure stages from a recorded Odds API payload,
ten entities per fixture, one fixture per route), then starts the worker `--runs` times (each a
restart: its tables are rebuilt from the changelogs) and measures, from process start:

- `ready_s`: Faust reports the worker Ready (every table partition restored from its changelog:
  restart-to-ready);
- `first_output_s`: the canonical output of an update sent when it is Ready (the resolve stage's
  first batch also rebuilds the expiry index from the restored tables);
- `rss_mib` after that output and `peak_rss_mib` (VmHWM), `cpu_s` (worker CPU until the output).

A baseline with 0 seeded entities runs in the same invocation; ratios are against it. Medians of
the runs are printed as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from agents import guard
from agents.stages.normalize import process_raw
from agents.stages.process import process_candidates
from agents.stages.resolve import Fixture
from benchmarks._procs import ROOT, Worker
from benchmarks._stack import OwnKafka, free_port
from connectors.publisher import KafkaPublisher
from pipeline.provision import ensure_topics
from runtime.kafka import client_options
from runtime.settings import Settings
from schemas import topics
from schemas.envelope import RawEnvelope

SAMPLE = ROOT / "tests" / "fixtures" / "theoddsapi" / "odds_basketball_nba_h2h_spreads_totals_american_2022-11-23.json"
PLACEHOLDER = "PLACEHOLDERID"
INDEXED = re.compile(r"expiry indexed (\d+) entities")


def odds_envelope(provider_id: str) -> RawEnvelope:
    text = SAMPLE.read_text().replace("Philadelphia 76ers", f"Home {provider_id}")
    text = text.replace("Brooklyn Nets", f"Away {provider_id}")
    payload = [dict(json.loads(text)[0], id=provider_id)]
    return RawEnvelope(provider="theoddsapi", feed="odds", key=provider_id, params={"oddsFormat": "american"},
                       payload=payload)


def template(settings: Settings) -> tuple[str, list[tuple[str, dict[str, Any]]], bytes]:
    """One fixture's table entries as the worker writes them: (canonical id, entity states, fixtures value)."""
    processed = process_raw(topics.raw_topic("theoddsapi"), 0, 0, odds_envelope(PLACEHOLDER).to_json(), [])
    (out,) = processed.records
    fixtures: list[Fixture] = []
    result = process_candidates(out.key.decode(), out.value, list(out.headers), fixtures, lambda _k: None,
                                policy=guard.policy(settings.processing), tolerance_ms=1000, is_down=lambda _s: False)
    (fixture,) = fixtures
    now = int(time.time() * 1000)
    entities = [(key, {**state, "updated": now}) for key, state in result.entities.items()]
    return fixture.id, entities, guard.dumps([f.as_dict() for f in fixtures])


async def create_changelogs(settings: Settings, app_id: str) -> None:
    """The tables' changelog topics, as Faust creates them (compacted, one partition per resolve partition)."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        parts = settings.kafka.topic_partitions
        await admin.create_topics([NewTopic(f"{app_id}-{table}-changelog", parts, 1,
                                            topic_configs={"cleanup.policy": "compact"})
                                   for table in ("entities", "fixtures")])
    finally:
        await admin.close()


async def seed(settings: Settings, app_id: str, entities: int) -> float:
    """Write `entities` live entity states (and their fixtures) to the changelogs; returns seconds taken."""
    if entities == 0:
        return 0.0
    started = time.monotonic()
    canonical_id, states, fixtures_value = template(settings)
    parts = settings.kafka.topic_partitions
    # Per partition, the fixture's entries as bytes (each state records its partition as `p`).
    by_partition = [[(key.encode(), guard.dumps({**state, "p": p})) for key, state in states] for p in range(parts)]
    producer = AIOKafkaProducer(**client_options(settings), acks=1, linger_ms=20, max_batch_size=1 << 20,
                                compression_type=None)
    await producer.start()
    try:
        pending = []
        for n in range((entities + len(states) - 1) // len(states)):
            new_id, provider_id = f"sf_{n:020x}".encode(), f"P{n:012d}".encode()
            route = f"fx|basketball|{n:08x}".encode()
            p = guard.route_partition(route, parts)
            pending.append(await producer.send(
                f"{app_id}-fixtures-changelog", partition=p, key=route,
                value=fixtures_value.replace(canonical_id.encode(), new_id).replace(PLACEHOLDER.encode(), provider_id)))
            for key, value in by_partition[p]:
                pending.append(await producer.send(
                    f"{app_id}-entities-changelog", partition=p, key=key.replace(canonical_id.encode(), new_id),
                    value=value.replace(canonical_id.encode(), new_id).replace(PLACEHOLDER.encode(), provider_id)))
            if len(pending) > 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.monotonic() - started


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


async def one_start(own: OwnKafka, app_id: str, run: int) -> dict[str, float]:
    """Start the worker; time it to Ready (tables restored), then to the output of an update sent then."""
    provider_id = f"probe-{uuid.uuid4().hex[:10]}"
    consumer = AIOKafkaConsumer(topics.ODDS, **client_options(own.settings), group_id=None,
                                enable_auto_commit=False, auto_offset_reset="latest")
    await consumer.start()
    await consumer.getmany(timeout_ms=100)
    for tp in consumer.assignment():
        await consumer.position(tp)
    worker = Worker(app_id, own.home / "logs", {
        **own.env, "SPORTSFLOW_PROCESSING__AUTO_OFFSET_RESET": "latest",
        "SPORTSFLOW_PROCESSING__WEB_PORT": str(free_port()),
        # One worker restarted: its local files (RocksDB tables) are kept from one start to the next.
        "SPORTSFLOW_PROCESSING__DATA_DIR": str(own.home / "faust" / f"{app_id}-data")})
    started = time.monotonic()
    worker.start(wait_ready=False)
    assert worker.proc is not None
    pid = worker.proc.pid
    ready_s = first_s = None
    try:
        async with KafkaPublisher(client_options(own.settings)) as publisher:
            while first_s is None:
                if ready_s is None and b"Worker]: Ready" in worker.log_path.read_bytes()[worker._offset:]:
                    ready_s = time.monotonic() - started
                    # Sent once the worker is Ready: a record sent before a fresh group's first start
                    # may be skipped (see BENCHMARKS.md, state size).
                    await publisher.publish([odds_envelope(provider_id)])
                for messages in (await consumer.getmany(timeout_ms=50)).values():
                    if any(provider_id.encode() in m.value for m in messages):
                        first_s = time.monotonic() - started
                if time.monotonic() - started > 900 or not worker.alive():
                    raise RuntimeError(f"no output from the worker; see {worker.log_path}")
        cpu_s = worker.cpu_seconds()
        rss, peak = status_kib(pid, "VmRSS"), status_kib(pid, "VmHWM")
        log = worker.log_path.read_bytes()[worker._offset:].decode(errors="replace")
    finally:
        await consumer.stop()
        worker.stop()
    # The worker's own count of the restored entries it indexed for expiry: proof the state was there.
    indexed = sum(int(n) for n in INDEXED.findall(log))
    return {"run": run, "indexed_entities": indexed, "ready_s": round(ready_s or first_s, 2),
            "first_output_s": round(first_s, 2), "cpu_s": round(cpu_s, 2),
            "rss_mib": round(rss / 1024, 1), "peak_rss_mib": round(peak / 1024, 1)}


async def measure(base: Settings, entities: int, runs: int) -> dict[str, Any]:
    async with OwnKafka(base) as own:
        await ensure_topics(own.settings)
        app_id = f"statesize-{uuid.uuid4().hex[:8]}"
        await create_changelogs(own.settings, app_id)
        seed_s = await seed(own.settings, app_id, entities)
        results = [await one_start(own, app_id, run) for run in range(runs)]
    medians = {k: round(statistics.median(r[k] for r in results), 2)
               for k in ("ready_s", "first_output_s", "cpu_s", "rss_mib", "peak_rss_mib")}
    return {"entities": entities, "seed_s": round(seed_s, 1), "median": medians, "runs": results}


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    base = Settings()
    report = []
    baseline = await measure(base, 0, args.runs)
    report.append(baseline)
    print(json.dumps(baseline), flush=True)
    for n in args.entities:
        result = await measure(base, n, args.runs)
        result["ratio_to_baseline"] = {k: round(v / baseline["median"][k], 2) if baseline["median"][k] else None
                                       for k, v in result["median"].items()}
        report.append(result)
        print(json.dumps(result), flush=True)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main_async(args)), indent=2))


if __name__ == "__main__":
    main()
