"""WebSocket fan-out benchmark: N clients on one broadcaster process, records through Kafka.

    .venv/bin/python benchmarks/ws_clients.py --clients 10000 --rate 2000 --events 5000 --runs 3

Per run: fresh topics `bench<id>.canonical.*` (so the shared stack's canonical topics are not
polluted), a `sportsflow broadcast` subprocess reading them, client subprocesses that each open
their share of the connections and subscribe to `live_scores` for one event (`--firehose` more
clients take every update), then records are produced with aiokafka at a fixed rate. Each record
carries its produce time; clients measure produce -> frame received. The broadcaster's CPU and
RSS are read from /proc. Results are printed as JSON; `--markdown` appends them to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- client process -------------------------------------------------------------------------------

async def run_clients(args: argparse.Namespace) -> None:
    import orjson
    from websockets.asyncio.client import connect

    from runtime.settings import BroadcasterSettings
    from sinks.websocket.auth import issue_token

    token = issue_token(BroadcasterSettings(), "bench")
    # Real event ids to filter on (one client each, round robin), else the synthetic `bench-<n>` ids.
    ids = args.event_ids.read_text().split() if args.event_ids else [f"bench-{n}" for n in range(args.events)]
    url = f"ws://127.0.0.1:{args.port}/ws?token={token}"
    latencies: list[int] = []
    frames = 0
    measuring = False
    gate = asyncio.Semaphore(100)
    connected = 0
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, stop.set)

    async def client(n: int) -> None:
        nonlocal frames, connected
        if n < args.firehose:
            request = {"action": "subscribe", "subscriptions": ["live_scores"]}
        else:
            request = {"action": "subscribe", "subscriptions": ["live_scores"],
                       "filters": {"eventIds": [ids[(args.first + n) % len(ids)]]}}
        async with gate:
            ws = await connect(url, open_timeout=60, ping_interval=None, max_queue=64)
            await ws.send(orjson.dumps(request).decode())
            while b'"synced"' not in await ws.recv(decode=False):
                pass
            connected += 1
        marker = b'"benchNs":'
        async with ws:
            while True:
                data = await ws.recv(decode=False)
                frames += 1
                at = data.find(marker)
                if measuring and at >= 0:
                    end = data.find(b",", at)
                    latencies.append(time.time_ns() - int(data[at + len(marker): end if end > 0 else -1]))

    tasks = [asyncio.create_task(client(n)) for n in range(args.count)]
    while connected < args.count:
        failed = [t for t in tasks if t.done() and t.exception()]
        if failed:
            raise failed[0].exception()  # type: ignore[misc]
        await asyncio.sleep(0.2)
    # 5,000 connections are a large, long-lived heap: keep the collector from walking it during the
    # measurement (a full collection here would show up as client-side latency, not the broadcaster's).
    gc.collect()
    gc.freeze()
    print(json.dumps({"ready": connected}), flush=True)
    measuring = True
    await stop.wait()
    measuring = False
    print(json.dumps({"frames": frames, "latencies_us": [v // 1000 for v in latencies]}), flush=True)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# -- orchestration --------------------------------------------------------------------------------

def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def produce(bootstrap: str, topic: str, rate: int, duration: float, events: int) -> int:
    import orjson
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    seqs = [0] * events
    sent = 0
    tick = 0.005
    start = time.monotonic()
    try:
        while (elapsed := time.monotonic() - start) < duration:
            due = int(elapsed * rate)
            while sent < due:
                n = sent % events
                seqs[n] += 1
                record = {"type": "event", "id": f"bench-{n}", "seq": seqs[n], "sport": "soccer", "league": "BENCH",
                          "homeTeam": f"Home {n}", "awayTeam": f"Away {n}", "score": {"home": seqs[n], "away": 0},
                          "status": "live", "benchNs": time.time_ns()}
                await producer.send(topic, orjson.dumps(record), key=record["id"].encode())
                sent += 1
            await asyncio.sleep(tick)
        await producer.flush()
    finally:
        await producer.stop()
    return sent


async def create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, names: list[str]) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(names)
    finally:
        await admin.close()


def wait_healthy(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("broadcaster did not start")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def one_run(args: argparse.Namespace) -> dict[str, float]:
    from runtime.settings import Settings
    from schemas import topics

    bootstrap = Settings().kafka.bootstrap_servers
    prefix = f"bench{time.time_ns() // 1000}."
    names = [prefix + t for t in topics.CANONICAL_TOPICS]
    await create_topics(bootstrap, names, args.partitions)
    port = free_port()
    env = {**os.environ, "SPORTSFLOW_BROADCASTER__PORT": str(port), "SPORTSFLOW_BROADCASTER__TOPIC_PREFIX": prefix,
           "SPORTSFLOW_BROADCASTER__REPLAY_S": "0", "SPORTSFLOW_BROADCASTER__MAX_CLIENTS": str(args.clients + 100),
           "SPORTSFLOW_LOG_LEVEL": "WARNING"}
    # The children inherit this process's raised file limit; Popen only forks (ASYNC220: fine here).
    broadcaster = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "broadcast"], cwd=ROOT, env=env,  # noqa: ASYNC220
                                   stdout=subprocess.DEVNULL)
    clients: list[subprocess.Popen[str]] = []
    try:
        wait_healthy(port)
        share = -(-args.clients // args.procs)
        for i in range(args.procs):
            count = min(share, args.clients - i * share)
            clients.append(subprocess.Popen(  # noqa: ASYNC220
                [sys.executable, __file__, "_clients", "--port", str(port), "--count", str(count),
                 "--first", str(i * share), "--events", str(args.events),
                 "--firehose", str(args.firehose if i == 0 else 0)],
                cwd=ROOT, stdout=subprocess.PIPE, text=True))
        connect_start = time.monotonic()
        for proc in clients:
            assert proc.stdout is not None
            json.loads(proc.stdout.readline())
        connect_s = time.monotonic() - connect_start
        rss_idle = proc_rss_mb(broadcaster.pid)
        await asyncio.sleep(1.0)
        cpu0, t0 = proc_cpu_s(broadcaster.pid), time.monotonic()
        sent = await produce(bootstrap, names[0], args.rate, args.duration, args.events)
        await asyncio.sleep(1.0)  # let the last frames arrive
        cpu = (proc_cpu_s(broadcaster.pid) - cpu0) / (time.monotonic() - t0)
        rss = proc_rss_mb(broadcaster.pid)
        latencies: list[float] = []
        frames = 0
        for proc in clients:
            proc.send_signal(signal.SIGUSR1)
        for proc in clients:
            assert proc.stdout is not None
            result = json.loads(proc.stdout.readline())
            frames += result["frames"]
            latencies += [v / 1000 for v in result["latencies_us"]]
        return {"clients": args.clients, "rate": args.rate, "sent": sent, "frames_measured": len(latencies),
                "connect_s": round(connect_s, 1), "p50_ms": round(percentile(latencies, 0.5), 2),
                "p99_ms": round(percentile(latencies, 0.99), 2), "max_ms": round(max(latencies, default=0), 1),
                "cpu_pct": round(cpu * 100, 1), "rss_idle_mb": round(rss_idle), "rss_mb": round(rss)}
    finally:
        for proc in clients:
            proc.kill()
            proc.wait()
        broadcaster.send_signal(signal.SIGTERM)
        try:
            broadcaster.wait(30)
        except subprocess.TimeoutExpired:
            broadcaster.kill()
        await delete_topics(bootstrap, names)


def append_markdown(args: argparse.Namespace, runs: list[dict[str, float]], command: str) -> None:
    med = {k: statistics.median(r[k] for r in runs) for k in ("p50_ms", "p99_ms", "cpu_pct", "rss_mb",
                                                             "rss_idle_mb", "connect_s")}
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    section = "## WebSocket fan-out"
    if section not in text:
        text = text.rstrip("\n") + f"\n\n{section}\n\n"
        text += ("One `sportsflow broadcast` process; clients in separate processes (asyncio + websockets); records "
                 "produced with aiokafka into fresh `bench*.canonical.*` topics at a fixed rate; latency is record "
                 "produce time -> frame received by the client (so it includes Kafka). Everything on one 2-core box. "
                 "Medians of 3 runs.\n\n"
                 "| date | clients | subscription | updates/s | frames/s out | p50 ms | p99 ms | broadcaster CPU | "
                 "RSS idle / loaded | connect all |\n|---|---|---|---|---|---|---|---|---|---|\n")
    fanout = args.rate * (args.clients - args.firehose) // max(1, args.events) + args.rate * args.firehose
    sub = f"1 event of {args.events}" + (f", {args.firehose} firehose" if args.firehose else "")
    row = (f"| {time.strftime('%Y-%m-%d')} | {args.clients:,} | {sub} | {args.rate:,} | ~{fanout:,} | "
           f"{med['p50_ms']} | {med['p99_ms']} | {med['cpu_pct']}% | "
           f"{med['rss_idle_mb']:.0f} / {med['rss_mb']:.0f} MB | {med['connect_s']} s |\n")
    marker = "\n`" + "benchmarks/ws_clients.py"
    text = text.rstrip("\n") + "\n" + row if text.rstrip().endswith("|") else text + row
    if marker not in text:
        text += f"\nCommand: `{command}`\n"
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("role", nargs="?", default="bench", choices=["bench", "_clients"])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    parser.add_argument("--rate", type=int, default=2000, help="updates per second")
    parser.add_argument("--events", type=int, default=5000, help="distinct events (clients spread over them)")
    parser.add_argument("--firehose", type=int, default=0, help="clients subscribed to every update")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--markdown", action="store_true", help="append the medians to BENCHMARKS.md")
    parser.add_argument("--port", type=int)
    parser.add_argument("--count", type=int)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--event-ids", type=Path, help="_clients: a file of event ids to filter on, one per line")
    args = parser.parse_args()
    raise_fd_limit()
    if args.role == "_clients":
        asyncio.run(run_clients(args))
        return
    runs = []
    for n in range(args.runs):
        result = asyncio.run(one_run(args))
        print(json.dumps({"run": n + 1, **result}), flush=True)
        runs.append(result)
    if args.markdown:
        append_markdown(args, runs, "python " + " ".join(sys.argv))


if __name__ == "__main__":
    main()
