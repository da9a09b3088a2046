"""Running sportsflow commands as an operator does (free loopback ports, logs kept), for the abuse suite."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from pipeline.provision import ensure_topics
from runtime.settings import Settings
from tests.conftest import ROOT, free_port

INGEST_KEY = "abuse-ingest-key-7f3e9c1d"
ODDS_ONLY_KEY = "abuse-odds-only-key-2b8d6a4e"

@dataclass
class Proc:
    """A running sportsflow command: its process, where it listens and what it logged."""

    proc: subprocess.Popen[bytes]
    port: int
    metrics_port: int
    log_path: Path
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def rss_mb(self) -> float:
        """Resident memory of the process (what the kernel charges it), in MiB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")


def start(command: list[str], env_overrides: dict[str, str], name: str) -> Proc:
    port, metrics_port = free_port(), free_port()
    log_path = ROOT / ".stack" / "logs" / f"abuse-{name}-{uuid.uuid4().hex[:8]}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **env_overrides}
    env = {k: v.replace("{port}", str(port)).replace("{metrics_port}", str(metrics_port)) for k, v in env.items()}
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", *command], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    return Proc(proc, port, metrics_port, log_path, env)


def stop(proc: Proc) -> None:
    proc.proc.terminate()
    try:
        proc.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.proc.kill()
        proc.proc.wait()
        pytest.fail(f"{proc.proc.args} ignored SIGTERM for 20 s")


def answers(url: str, proc: Proc) -> bool:
    if proc.proc.poll() is not None:
        pytest.fail(f"exited with {proc.proc.returncode}: {proc.log()[-3000:]}")
    try:
        return httpx.get(url, timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


def timed_get(client: httpx.Client, url: str) -> tuple[float, int]:
    start_s = time.perf_counter()
    status = client.get(url).status_code
    return time.perf_counter() - start_s, status


async def seed_canonical(settings: Settings, prefix: str, names: list[str]) -> None:
    """Create `names` and write 1,000 events and 1,000 odds (about 300 bytes each) to them."""
    await ensure_topics(settings, names, partitions=2)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        for n in range(1000):
            event = {"type": "event", "id": f"ev-{n}", "seq": 1, "sport": "soccer", "league": "EPL",
                     "homeTeam": f"Home {n}", "awayTeam": f"Away {n}", "status": "live",
                     "score": {"home": n % 5, "away": 0}, "startTime": "2026-01-01T00:00:00Z"}
            odds = {"type": "odds", "eventId": f"ev-{n}", "bookmaker": "b1", "market": "moneyline", "seq": 1,
                    "sport": "soccer", "outcomes": [{"side": "home", "price": 1.5}, {"side": "away", "price": 2.5}]}
            await producer.send(prefix + "canonical.events", orjson.dumps(event), key=f"ev-{n}".encode())
            await producer.send(prefix + "canonical.odds", orjson.dumps(odds), key=f"ev-{n}|b1|moneyline".encode())
        await producer.flush()
    finally:
        await producer.stop()


async def delete_topics(settings: Settings, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    await admin.start()
    try:
        await admin.delete_topics(names)
    finally:
        await admin.close()


def broadcaster_env(prefix: str, **settings: object) -> dict[str, str]:
    env = {"SPORTSFLOW_BROADCASTER__PORT": "{port}", "SPORTSFLOW_METRICS__PORT_BROADCASTER": "{metrics_port}",
           "SPORTSFLOW_BROADCASTER__TOPIC_PREFIX": prefix, "SPORTSFLOW_BROADCASTER__REPLAY_S": "3600"}
    env.update({f"SPORTSFLOW_BROADCASTER__{k.upper()}": str(v) for k, v in settings.items()})
    return env
