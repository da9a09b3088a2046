"""Engine latency: provider response received -> WebSocket frame received, at a fixed update rate.

    python -m benchmarks.latency --rate 2000 --seconds 20 --repeat 3 --clients 1000

Each run starts a fresh worker and a broadcaster (subprocesses), connects one WebSocket client
subscribed to live_scores (every update), sends every fixture one update (warm-up: canonical ids
learnt, states created), connects `clients - 1` more clients in their own process, each subscribed
to one of the run's events, then publishes raw score updates at `rate` per second, each stamped
with its receive time (the moment the connector "had the provider's response"). The measuring
client takes arrival time minus that stamp (ms resolution). Baseline in the same run: Kafka alone
(produce -> consume at the same rate, no processing); the figure is the ratio of the p99s.

The split comes from the frame's own `stages` (epoch ms, one clock: everything runs here):
- provider lag: provider update time -> received. The synthetic provider "updates" on the rate's
  schedule, so this is how late the load generator itself ran;
- engine: received -> canonical publish (the worker);
- delivery: canonical publish -> the client has the frame (Kafka hop, broadcaster, socket), itself
  split at the broadcaster's receive and send stamps (`to_broadcaster`, `fan_out`, `socket`).
The engine part is split by hop with a tap on the app's resolve topic (a plain consumer reading the
packed records stage 1 sends, matched to frames by provider event id and receive stamp):
- stage_one: received -> the resolve record carrying it was created (raw Kafka hop, stage 1's
  `getmany` and its batch: normalize, pack, send);
- stage_two: resolve record created -> canonical publish stamp (resolve Kafka hop, Faust's consumer
  and stream buffer, stage 2 up to this candidate).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from websockets.asyncio.client import connect

from agents import packing
from benchmarks._load import score_update
from benchmarks._procs import ROOT, Worker
from benchmarks._spy import Spy
from benchmarks._stack import on_broker
from connectors.publisher import record_headers
from pipeline.provision import ensure_topics
from runtime.kafka import client_options, partitions_of
from runtime.settings import Settings
from schemas import topics
from sinks.websocket.auth import issue_token
from tests.conftest import free_port


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 2) if ordered else float("nan")


async def publish_at_rate(settings: Settings, run: str, rate: int, seconds: float, fixtures: int,
                          first: int = 0) -> int:
    """Updates `first`, `first + 1`, ... at `rate` for `seconds`; returns how many were sent."""
    producer = AIOKafkaProducer(**client_options(settings), acks="all", linger_ms=0)
    await producer.start()
    sent = 0
    try:
        started, wall = time.perf_counter(), time.time()
        while (elapsed := time.perf_counter() - started) < seconds:
            due = int(elapsed * rate)
            while sent < due:
                scheduled = datetime.fromtimestamp(wall + sent / rate, UTC)
                n = first + sent
                envelope = score_update(run, n % fixtures, 1 + n // fixtures, now=datetime.now(UTC),
                                        updated_at=scheduled)
                await producer.send(topics.raw_topic("theoddsapi"), value=envelope.to_json(),
                                    key=envelope.key.encode(), headers=record_headers(envelope))
                sent += 1
            await asyncio.sleep(0.001)
        await producer.flush()
    finally:
        await producer.stop()
    return sent


PARTS = ("provider_lag", "engine", "stage_one", "stage_two", "delivery", "to_broadcaster", "fan_out", "socket")
# One frame as the measuring client saw it: provider event id, its `stages` stamps, arrival (epoch ms).
Frame = tuple[str, dict[str, int], float]


def split(stamps: dict[str, int], arrived_ms: float, resolved_ms: float | None = None) -> dict[str, float]:
    """One frame's latency parts (ms) from its `stages`, the client's arrival time and, when the tap
    saw it, when stage 1's resolve record carrying it was created."""
    parts = {"engine": stamps["published"] - stamps["received"], "delivery": arrived_ms - stamps["published"],
             "to_broadcaster": stamps["hub"] - stamps["published"],
             "fan_out": stamps["sent"] - stamps["hub"], "socket": arrived_ms - stamps["sent"]}
    if "provider" in stamps:
        parts["provider_lag"] = stamps["received"] - stamps["provider"]
    if resolved_ms is not None:
        parts["stage_one"] = resolved_ms - stamps["received"]
        parts["stage_two"] = stamps["published"] - resolved_ms
    return parts


async def tap_resolve(settings: Settings, topic: str, run: str, seen: dict[tuple[str, int], int],
                      ready: asyncio.Event, counts: list[int]) -> None:
    """Read the resolve topic from its end: (provider event id, received ms) -> the packed record's
    creation time (stage 1 stamps it when it sends the batch); `counts`: [resolve records, candidates]."""
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=None, fetch_max_wait_ms=5)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in sorted(await partitions_of(consumer, topic))]
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        for tp in parts:
            await consumer.position(tp)
        ready.set()
        while True:
            batches = await consumer.getmany(timeout_ms=100)
            for messages in batches.values():
                for message in messages:
                    candidates = packing.unpack(message.key, message.value, list(message.headers or []))
                    counts[0] += 1
                    counts[1] += len(candidates)
                    for candidate in candidates:
                        body = orjson.loads(candidate.value)
                        for record in body.get("records", []):
                            pid = str(record.get("providerEventId", ""))
                            if pid.startswith(run):
                                seen[(pid, int(body["receivedMs"]))] = message.timestamp
    finally:
        await consumer.stop()


async def receive(url: str, run: str, until: asyncio.Event, frames: list[Frame], ids: set[str]) -> None:
    async with connect(url, max_size=None) as ws:
        await ws.send(orjson.dumps({"action": "subscribe", "subscriptions": ["live_scores"]}).decode())
        while not until.is_set():
            try:
                text = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            now_ms = time.time() * 1000
            frame = orjson.loads(text)
            if frame.get("type") == "event" and str(frame.get("providerEventId", "")).startswith(run):
                ids.add(frame["id"])
                frames.append((str(frame["providerEventId"]), frame["stages"], now_ms))


async def kafka_baseline(settings: Settings, rate: int, seconds: float) -> list[float]:
    """Produce -> consume through Kafka alone, same rate: the floor no pipeline can beat."""
    topic = topics.DEADLETTER  # an existing topic; records are tagged so nobody mistakes them
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=None, fetch_max_wait_ms=5)
    await consumer.start()
    parts = [TopicPartition(topic, p) for p in sorted(await partitions_of(consumer, topic))]
    consumer.assign(parts)
    await consumer.seek_to_end(*parts)
    for tp in parts:
        await consumer.position(tp)
    producer = AIOKafkaProducer(**client_options(settings), acks="all", linger_ms=0)
    await producer.start()
    latencies: list[float] = []
    tag = uuid.uuid4().hex.encode()

    async def consume() -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=100)
            now = time.time() * 1000
            for messages in batches.values():
                latencies.extend(now - m.timestamp for m in messages if m.key == tag)

    reader = asyncio.create_task(consume())
    started, sent = time.perf_counter(), 0
    while (elapsed := time.perf_counter() - started) < seconds:
        while sent < int(elapsed * rate):
            await producer.send(topic, value=b'{"benchmark":"latency-baseline"}', key=tag)
            sent += 1
        await asyncio.sleep(0.001)
    await producer.flush()
    await asyncio.sleep(1)
    reader.cancel()
    await producer.stop()
    await consumer.stop()
    return latencies


async def other_clients(port: int, count: int, ids: set[str], run: str) -> subprocess.Popen[str]:
    """`count` more clients (benchmarks/ws_clients.py, own process), each subscribed to live_scores for
    one of this run's events: the broadcaster serves them all while the measured client takes every update."""
    ids_file = ROOT / ".stack" / "logs" / f"latency-ids-{run}.txt"
    ids_file.write_text("\n".join(sorted(ids)))
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before the measured window
        [sys.executable, str(ROOT / "benchmarks" / "ws_clients.py"), "_clients", "--port", str(port),
         "--count", str(count), "--event-ids", str(ids_file)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    ready = await asyncio.to_thread(proc.stdout.readline)
    if not ready:
        raise RuntimeError("the WebSocket clients did not connect")
    return proc


async def one_run(settings: Settings, rate: int, seconds: float, fixtures: int, clients: int,
                  own_env: dict[str, str] | None = None, profile: Path | None = None) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    worker = Worker(f"latency-{run}", ROOT / ".stack" / "logs",
                    {**(own_env or {}), "SPORTSFLOW_PROCESSING__AUTO_OFFSET_RESET": "latest"})
    port = free_port()
    env = {**os.environ, **(own_env or {}), "SPORTSFLOW_BROADCASTER__PORT": str(port),
           "SPORTSFLOW_METRICS__PROMETHEUS_ENABLED": "false",
           "SPORTSFLOW_BROADCASTER__MAX_CLIENTS": str(clients + 100),
           "SPORTSFLOW_BROADCASTER__REPLAY_S": "0"}  # no snapshot history to rebuild: start at the tail
    # Before the worker starts (see benchmarks/scaleout.py app_topics: a worker creating them itself can
    # miss them in its first assignment).
    await ensure_topics(settings, [topics.resolve_topic(worker.app_id),
                                   *(f"{worker.app_id}-{table}-changelog" for table in ("entities", "fixtures"))])
    log_path = ROOT / ".stack" / "logs" / f"latency-broadcaster-{run}.log"
    log = log_path.open("wb")
    broadcaster = subprocess.Popen(  # noqa: ASYNC220 - started once, before the measured window
        [sys.executable, "-m", "pipeline.cli", "broadcast"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    worker.start()
    frames: list[Frame] = []
    resolved: dict[tuple[str, int], int] = {}
    tap_ready = asyncio.Event()
    counts = [0, 0]
    tap = asyncio.create_task(tap_resolve(settings, topics.resolve_topic(worker.app_id), run, resolved, tap_ready,
                                          counts))
    ids: set[str] = set()
    others: subprocess.Popen[str] | None = None
    other_frames = 0
    try:
        for _ in range(600):  # the broadcaster accepts clients once it follows the tail
            if b"WebSocket feed on" in log_path.read_bytes():
                break
            await asyncio.sleep(0.1)
        token = issue_token(settings.broadcaster, "latency-benchmark")
        done = asyncio.Event()
        client = asyncio.create_task(receive(f"ws://127.0.0.1:{port}/ws?token={token}", run, done, frames, ids))
        await asyncio.wait_for(tap_ready.wait(), 60)
        await asyncio.sleep(0.5)
        # Warm-up: every fixture once (its canonical id is learnt, its state created), then the others connect.
        warm = await publish_at_rate(settings, run, rate, max(1.0, 2 * fixtures / rate), fixtures)
        await asyncio.sleep(2)
        if clients > 1:
            others = await other_clients(port, clients - 1, ids, run)
        frames.clear()
        counts[:] = [0, 0]
        cpu0 = worker.cpu_seconds()
        spy = Spy(worker.proc.pid, profile / f"latency-{run}", idle=True) if profile and worker.proc else None
        sent = await publish_at_rate(settings, run, rate, seconds, fixtures, first=warm)
        if spy:
            spy.stop()
        # Cores the worker used while fed: below 1 with stage 2 behind means it waits, not computes.
        worker_cores = (worker.cpu_seconds() - cpu0) / seconds
        resolve_counts = list(counts)
        await asyncio.sleep(3)
        done.set()
        await client
    finally:
        tap.cancel()
        if others is not None:
            others.send_signal(signal.SIGUSR1)
            out, _ = others.communicate(timeout=60)
            other_frames = json.loads(out.strip().splitlines()[-1]).get("frames", 0) if out.strip() else 0
        worker.stop()
        broadcaster.terminate()
        broadcaster.wait(timeout=20)
    received = len(frames)
    frames = frames[received // 10:]  # the first 10 %: connection set-up, caches
    kept = [arrived - stamps["received"] for _pid, stamps, arrived in frames]
    parts: dict[str, list[float]] = {name: [] for name in PARTS}
    for pid, stamps, arrived in frames:
        for name, value in split(stamps, arrived, resolved.get((pid, stamps["received"]))).items():
            parts[name].append(value)
    baseline = await kafka_baseline(settings, rate, min(seconds, 10))
    result: dict[str, Any] = {
        "rate": rate, "clients": clients, "sent": sent, "frames": received,
        "frames_split_by_stage": len(parts["stage_one"]), "other_clients_frames": other_frames,
        "worker_cores": round(worker_cores, 2), "resolve_records_per_s": round(resolve_counts[0] / seconds),
        "candidates_per_resolve_record": round(resolve_counts[1] / max(1, resolve_counts[0]), 1),
        "p50_ms": pct(kept, 50), "p95_ms": pct(kept, 95), "p99_ms": pct(kept, 99), "max_ms": pct(kept, 100),
        "kafka_only_p50_ms": pct(baseline, 50), "kafka_only_p99_ms": pct(baseline, 99)}
    result["p99_ratio_to_kafka"] = round(result["p99_ms"] / result["kafka_only_p99_ms"], 2)
    for name, values in parts.items():
        result[f"{name}_p50_ms"], result[f"{name}_p99_ms"] = pct(values, 50), pct(values, 99)
    return result


SUMMARY = ("p50_ms", "p95_ms", "p99_ms", "kafka_only_p50_ms", "kafka_only_p99_ms", "p99_ratio_to_kafka",
           *(f"{name}_{p}_ms" for name in PARTS for p in ("p50", "p99")))


async def main_async(args: argparse.Namespace) -> None:
    await on_broker(args.own_broker, functools.partial(play, args))


async def play(args: argparse.Namespace, settings: Settings, env: dict[str, str]) -> None:
    runs = []
    for _ in range(args.repeat):
        result = await one_run(settings, args.rate, args.seconds, args.fixtures, args.clients, env, args.profile)
        print(json.dumps(result))
        runs.append(result)
    print(json.dumps({key: statistics.median(r[key] for r in runs) for key in SUMMARY}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--profile", type=Path, default=None,
                        help="py-spy (idle threads included) of each run's worker while fed, into this dir")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--fixtures", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--clients", type=int, default=1000,
                        help="WebSocket clients: one takes every update and measures, the others one event each")
    parser.add_argument("--own-broker", action="store_true",
                        help="a private Kafka broker for the whole run (nothing else publishes to its raw topics)")
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the broadcaster inherits it
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
