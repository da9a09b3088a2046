"""Shared fixtures. Integration tests use the real local stack (`sportsflow stack up`).

With CI=true a missing service fails the test run; elsewhere such tests are skipped with a hint.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from runtime.settings import Settings
from tests import stack_containers

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
# Slow machines: scale every wait in integration tests by this factor.
TIME_UNIT = float(os.environ.get("SPORTSFLOW_TEST_TIME_UNIT", "1"))


# Fixtures that reach a server of the local stack; every fixture that needs one builds on these.
SERVER_FIXTURES = frozenset({"stack", "rabbitmq_url"})


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--stack", choices=stack_containers.STACKS, default=None,
                     help="Servers for integration tests: native (`sportsflow stack up`, default) or containers "
                          f"(started through testcontainers; needs a Docker engine). Also: {stack_containers.ENV_VAR}.")


# The containers of this run (--stack=containers), in a dict so the hooks need no `global`.
_RUN: dict[str, stack_containers.ContainerStack] = {}


def pytest_configure(config: pytest.Config) -> None:
    """With --stack=containers, start the containers and point every setting (and child process) at them."""
    try:
        kind = stack_containers.selected(config.getoption("--stack", default=None), os.environ)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    if kind != "containers" or "containers" in _RUN:
        return
    containers = stack_containers.ContainerStack()
    try:
        containers.start()
    except stack_containers.ContainerStackError as exc:
        raise pytest.UsageError(str(exc)) from None
    os.environ.update(containers.environment)
    _RUN["containers"] = containers


def pytest_unconfigure(config: pytest.Config) -> None:
    containers = _RUN.pop("containers", None)
    if containers is not None:
        containers.stop()


def server_health(settings: Settings, only: tuple[str, ...] = stack_containers.SERVICES) -> dict[str, bool]:
    """Each server's health on the selected stack (native processes or containers)."""
    if "containers" in _RUN:
        return _RUN["containers"].healthy(only)
    from pipeline.stack import services

    return {name: healthy for name, _pid, healthy in services.status(settings, only)}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that needs a server is an integration test, whether or not its module says so.

    Runs before `-m` selection, so `pytest -m "not integration"` never picks a test that needs the stack.
    """
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())) and item.get_closest_marker("integration") is None:
            item.add_marker(pytest.mark.integration)
    # Tests marked `last` run after all others (stable order otherwise).
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)


def fixture_path(provider: str, name: str) -> Path:
    return FIXTURES / provider / name


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


def _require(service: str, ok: bool) -> None:
    if ok:
        return
    message = f"{service} is not reachable: start the local stack with `sportsflow stack up` (or `make test`)"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Settings:
    """The local stack (native or containers, see --stack), healthy; fails in CI when it is not."""
    health = server_health(settings, ("kafka", "dynamodb", "s3"))
    for name in ("kafka", "dynamodb", "s3"):
        _require(name, health.get(name, False))
    return settings


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:12]


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1, message: str = "condition"):
    deadline = time.monotonic() + timeout * TIME_UNIT
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


# Ports handed out in this session, so two calls never return the same one.
_HANDED_OUT: set[int] = set()
_PORT_FLOOR = 20000


def free_port() -> int:
    """A port nobody listens on now, for a server this test starts (often in a subprocess).

    Picked below the kernel's ephemeral range on purpose. A port from `bind(("", 0))` is an
    ephemeral one: released again, it can become the source port of any outgoing connection
    (Kafka clients open many) before the subprocess binds it, which failed a run with
    "address already in use". Ports below the range are only ever taken by an explicit bind.
    """
    high = max(_PORT_FLOOR + 1000, _ephemeral_low())
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(500):
        port = rng.randrange(_PORT_FLOOR, high)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free port in {_PORT_FLOOR}-{high}")


@pytest.fixture(scope="session")
def worker(stack: Settings) -> Iterator[str]:
    """A Faust worker process with its own consumer group, as an operator would run it."""
    app_id = f"sportsflow-test-{uuid.uuid4().hex[:8]}"
    log_path = ROOT / ".stack" / "logs" / f"test-worker-{app_id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # The worker starts at the end of the raw topics: tests publish after it is ready, and a shared
    # stack's backlog (other sessions, other tests) must not delay them.
    env = {**os.environ, "SPORTSFLOW_PROCESSING__APP_ID": app_id, "SPORTSFLOW_PROCESSING__AUTO_OFFSET_RESET": "latest",
           "SPORTSFLOW_PROCESSING__WEB_PORT": str(free_port()),
           "SPORTSFLOW_METRICS__PORT_WORKER": str(free_port()),
           "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "faust", "-A", "pipeline.app", "worker", "-l", "info", "--without-web"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: "Worker]: Ready" in log_path.read_text(errors="replace") or proc.poll() is not None,
                 timeout=90, message="the faust worker to be ready")
        if proc.poll() is not None:
            pytest.fail(f"worker exited: {log_path.read_text()[-3000:]}")
        yield app_id
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
async def consumer_factory(stack: Settings) -> AsyncIterator:
    """Plain aiokafka consumers reading from the end of the given topics (fresh, groupless)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumers = []

    async def make(*topics: str, from_beginning: bool = False) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka.bootstrap_servers, group_id=None,
                                    enable_auto_commit=False)
        await consumer.start()
        consumers.append(consumer)
        parts = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or [])]
        if not parts:
            await consumer._client.force_metadata_update()
            parts = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or [])]
        consumer.assign(parts)
        if from_beginning:
            await consumer.seek_to_beginning(*parts)
        else:
            await consumer.seek_to_end(*parts)
            for tp in parts:  # resolve the lazy seek now, so later records are not skipped
                await consumer.position(tp)
        return consumer

    yield make
    await asyncio.gather(*(c.stop() for c in consumers))


def published_by(message, app_id: str) -> bool:
    """Several workers (other app ids) may share the stack; a test reads only its own worker's output."""
    return dict(message.headers or []).get("sf-app") == app_id.encode()


async def collect(consumer, predicate, count: int = 1, timeout: float = 30.0) -> list:
    """Read until `count` records satisfy `predicate` (or fail after `timeout`)."""
    found = []
    deadline = time.monotonic() + timeout * TIME_UNIT
    while len(found) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"only {len(found)} of {count} expected records arrived")
        batches = await consumer.getmany(timeout_ms=int(min(remaining, 1.0) * 1000))
        for messages in batches.values():
            found.extend(m for m in messages if predicate(m))
    return found


@pytest.fixture
async def broadcaster_url(stack):
    """A broadcaster on a free port, fed from the real canonical topics."""
    from runtime.settings import BroadcasterSettings
    from sinks.websocket.feed import feed_hub
    from sinks.websocket.hub import Hub
    from sinks.websocket.server import Broadcaster

    settings = BroadcasterSettings(port=free_port())
    hub, stop, ready = Hub(), asyncio.Event(), asyncio.Event()
    server = Broadcaster(settings, hub)
    tasks = [asyncio.create_task(feed_hub(stack, hub, stop, replay_s=0, ready=ready)),
             asyncio.create_task(server.serve(stop))]
    await asyncio.wait_for(ready.wait(), 30)
    await asyncio.sleep(0.2)
    yield f"ws://127.0.0.1:{settings.port}/ws", settings
    stop.set()
    await asyncio.gather(*tasks)
