"""One connector process polling 5,000 concurrent feeds against the simulator (run in its own process).

    .venv/bin/python benchmarks/connector_scale.py --feeds 5000 --warmup 15 --duration 60

The feeds are Sportradar `soccer-summary` and `nba-summary` feeds, one per simulated match, polled
through the real runner (pollers, health monitor, ETag/304, Cache-Control pacing). Records go to a
counting publisher, so the figures are the connector's own cost, not Kafka's. Prints requests/s (from the
simulator's request counter), the connector process's CPU % (of one core) and its peak RSS, plus RSS
samples over the run to show memory stays bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from connectors.health import HealthMonitor, MemoryStatusSink  # noqa: E402
from connectors.runner import run_connectors  # noqa: E402
from connectors.simulator.sportradar import key_of  # noqa: E402
from connectors.simulator.world import World  # noqa: E402
from runtime.settings import ProviderSettings, Settings  # noqa: E402
from schemas.envelope import RawEnvelope  # noqa: E402


class CountingPublisher:
    """Counts and drops: memory stays flat however long the run."""

    def __init__(self) -> None:
        self.records = 0

    async def publish(self, envelopes: Sequence[RawEnvelope]) -> None:
        self.records += len(envelopes)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sim_requests(base_url: str) -> int:
    with urllib.request.urlopen(f"{base_url}/_sim/state", timeout=30) as response:
        return int(json.loads(response.read())["requests"].get("sportradar", 0))


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_simulator(matches: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "SPORTSFLOW_SIMULATOR__PORT": str(port), "SPORTSFLOW_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "simulate", "--matches", str(matches)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            sim_requests(base_url)
            return proc, base_url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("simulator did not start")


async def measure(base_url: str, feeds: int, warmup: float, duration: float, sim_pid: int) -> dict[str, Any]:
    world = World(matches=feeds * 3 // 2 + 3)  # same seed as the simulator's: the same matches and ids
    soccer = [key_of(m) for m in world.matches.values() if m.sport == "soccer"]
    games = [key_of(m) for m in world.matches.values() if m.sport_key == "basketball_nba"]
    soccer, games = soccer[: feeds // 2], games[: feeds - feeds // 2]
    settings = Settings().model_copy(update={"providers": {"sportradar": ProviderSettings(
        base_url=base_url, api_key="sim-sportradar-key", feeds=["soccer-summary", "nba-summary"],
        poll_live_s=1, poll_idle_s=1, params={"soccer_events": ",".join(soccer), "nba_games": ",".join(games)})}})
    publisher, monitor, stop = CountingPublisher(), HealthMonitor(), asyncio.Event()
    task = asyncio.create_task(run_connectors(settings, publisher, stop, only=["sportradar"],
                                              status_sink=MemoryStatusSink(), monitor=monitor))
    await asyncio.sleep(warmup)
    usage0, wall0, requests0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic(), sim_requests(base_url)
    sim0 = proc_cpu_s(sim_pid)
    samples = []
    for _ in range(int(duration // 5)):
        await asyncio.sleep(5)
        samples.append(round(rss_mb(), 1))
    usage1, wall1, requests1 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic(), sim_requests(base_url)
    sim1 = proc_cpu_s(sim_pid)
    stop.set()
    await asyncio.wait_for(task, 60)
    cpu = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
    up = sum(1 for name in [*soccer, *games] if monitor.status("sportradar", _feed_name(name)) == "up")
    return {
        "feeds": len(soccer) + len(games), "feeds_up": up, "requests_per_s": (requests1 - requests0) / (wall1 - wall0),
        "cpu_percent": 100 * cpu / (wall1 - wall0), "peak_rss_mb": usage1.ru_maxrss / 1024,
        "rss_samples_mb": samples, "records": publisher.records,
        "simulator_cpu_percent": 100 * (sim1 - sim0) / (wall1 - wall0),
    }


def _feed_name(key: str) -> str:
    return f"soccer-summary:{key}" if key.startswith("sr:") else f"nba-summary:{key}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=5000)
    parser.add_argument("--warmup", type=float, default=15.0)
    parser.add_argument("--duration", type=float, default=60.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # per-feed retry warnings would cost more than the polling
    proc, base_url = start_simulator(args.feeds * 3 // 2 + 3)
    try:
        result = asyncio.run(measure(base_url, args.feeds, args.warmup, args.duration, proc.pid))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(json.dumps(result))
    print(f"{result['feeds']} feeds ({result['feeds_up']} up): {result['requests_per_s']:.0f} requests/s, "
          f"CPU {result['cpu_percent']:.0f}% of one core, peak RSS {result['peak_rss_mb']:.0f} MB "
          f"(simulator CPU {result['simulator_cpu_percent']:.0f}%)")


if __name__ == "__main__":
    main()
