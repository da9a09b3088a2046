"""Engine latency: provider response received -> WebSocket frame received, at a fixed update rate.

    python -m benchmarks.latency --rate 2000 --seconds 20 --repeat 3

Each run starts a fresh worker and a broadcaster (subprocesses), connects one WebSocket client
subscribed to live_scores, and publishes raw score updates at `rate` per second, each stamped
with its receive time (the moment the connector "had the provider's response"). The client
measures arrival time minus that stamp (carried as the record's sourceTimestamp, ms resolution).
Baseline in the same run: Kafka alone (produce -> consume of the same records, no processing).

The split comes from the frame's own `stages` (epoch ms, one clock: everything runs here):
- provider lag: provider update time -> received. The synthetic provider "updates" on the rate's
  schedule, so this is how late the load generator itself ran;
- engine: received -> canonical publish (the worker);
- delivery: canonical publish -> the client has the frame (Kafka hop, broadcaster, socket), itself
  split at the broadcaster's receive and send stamps (`to_broadcaster`, `fan_out`, `socket`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from websockets.asyncio.client import connect

from benchmarks._load import score_update
from benchmarks._procs import ROOT, Worker
from connectors.publisher import record_headers
from runtime.kafka import client_options, partitions_of
from runtime.settings import Settings
from schemas import topics
from sinks.websocket.auth import issue_token
from tests.conftest import free_port


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 2) if ordered else float("nan")


async def publish_at_rate(settings: Settings, run: str, rate: int, seconds: float, fixtures: int) -> int:
    producer = AIOKafkaProducer(**client_options(settings), acks="all", linger_ms=0)
    await producer.start()
    sent = 0
    try:
        started, wall = time.perf_counter(), time.time()
        while (elapsed := time.perf_counter() - started) < seconds:
            due = int(elapsed * rate)
            while sent < due:
                scheduled = datetime.fromtimestamp(wall + sent / rate, UTC)
                envelope = score_update(run, sent % fixtures, 1 + sent // fixtures, now=datetime.now(UTC),
                                        updated_at=scheduled)
                await producer.send(topics.raw_topic("theoddsapi"), value=envelope.to_json(),
                                    key=envelope.key.encode(), headers=record_headers(envelope))
                sent += 1
            await asyncio.sleep(0.001)
        await producer.flush()
    finally:
        await producer.stop()
    return sent


PARTS = ("provider_lag", "engine", "delivery", "to_broadcaster", "fan_out", "socket")


def split(stamps: dict[str, int], arrived_ms: float) -> dict[str, float]:
    """One frame's latency parts (ms) from its `stages` and the client's arrival time."""
    parts = {"engine": stamps["published"] - stamps["received"], "delivery": arrived_ms - stamps["published"],
             "to_broadcaster": stamps["hub"] - stamps["published"],
             "fan_out": stamps["sent"] - stamps["hub"], "socket": arrived_ms - stamps["sent"]}
    if "provider" in stamps:
        parts["provider_lag"] = stamps["received"] - stamps["provider"]
    return parts


async def receive(url: str, run: str, until: asyncio.Event, latencies: list[float],
                  parts: dict[str, list[float]]) -> None:
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
                stamp = frame["stages"]["received"]
                latencies.append(now_ms - stamp)
                for name, value in split(frame["stages"], now_ms).items():
                    parts[name].append(value)


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


async def one_run(settings: Settings, rate: int, seconds: float, fixtures: int) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    worker = Worker(f"latency-{run}", ROOT / ".stack" / "logs",
                    {"SPORTSFLOW_PROCESSING__AUTO_OFFSET_RESET": "latest"})
    port = free_port()
    env = {**os.environ, "SPORTSFLOW_BROADCASTER__PORT": str(port), "SPORTSFLOW_METRICS__PROMETHEUS_ENABLED": "false",
           "SPORTSFLOW_BROADCASTER__REPLAY_S": "0"}  # no snapshot history to rebuild: start at the tail
    log_path = ROOT / ".stack" / "logs" / f"latency-broadcaster-{run}.log"
    log = log_path.open("wb")
    broadcaster = subprocess.Popen(  # noqa: ASYNC220 - started once, before the measured window
        [sys.executable, "-m", "pipeline.cli", "broadcast"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    worker.start()
    latencies: list[float] = []
    parts: dict[str, list[float]] = {name: [] for name in PARTS}
    try:
        for _ in range(600):  # the broadcaster accepts clients once it follows the tail
            if b"WebSocket feed on" in log_path.read_bytes():
                break
            await asyncio.sleep(0.1)
        token = issue_token(settings.broadcaster, "latency-benchmark")
        done = asyncio.Event()
        client = asyncio.create_task(receive(f"ws://127.0.0.1:{port}/ws?token={token}", run, done, latencies, parts))
        await asyncio.sleep(0.5)
        sent = await publish_at_rate(settings, run, rate, seconds, fixtures)
        await asyncio.sleep(3)
        done.set()
        await client
    finally:
        worker.stop()
        broadcaster.terminate()
        broadcaster.wait(timeout=20)
    warm = latencies[len(latencies) // 10:]  # the first 10 %: JIT-less warm-up, connection set-up
    baseline = await kafka_baseline(settings, rate, min(seconds, 10))
    result: dict[str, Any] = {
        "rate": rate, "sent": sent, "frames": len(latencies), "p50_ms": pct(warm, 50), "p95_ms": pct(warm, 95),
        "p99_ms": pct(warm, 99), "max_ms": pct(warm, 100), "kafka_only_p50_ms": pct(baseline, 50),
        "kafka_only_p99_ms": pct(baseline, 99)}
    for name, values in parts.items():
        warm_part = values[len(values) // 10:]
        result[f"{name}_p50_ms"], result[f"{name}_p99_ms"] = pct(warm_part, 50), pct(warm_part, 99)
    return result


SUMMARY = ("p50_ms", "p95_ms", "p99_ms", "kafka_only_p50_ms", "kafka_only_p99_ms",
           *(f"{name}_{p}_ms" for name in PARTS for p in ("p50", "p99")))


async def main_async(args: argparse.Namespace) -> None:
    settings = Settings()
    runs = []
    for _ in range(args.repeat):
        result = await one_run(settings, args.rate, args.seconds, args.fixtures)
        print(json.dumps(result))
        runs.append(result)
    print(json.dumps({key: statistics.median(r[key] for r in runs) for key in SUMMARY}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--fixtures", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
