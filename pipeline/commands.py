"""The long-running commands: connect, simulate, broadcast, and `run` (all of them at once)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path

import click

from connectors.publisher import KafkaPublisher
from connectors.runner import run_connectors
from connectors.simulator.server import Simulator, run_simulator
from connectors.simulator.world import World
from pipeline.provision import ensure_topics
from pipeline.readiness import NotReadyError, Probe, http_answers, wait_until_ready
from runtime.kafka import client_options
from runtime.observability.prometheus import dead_letter_report
from runtime.observability.telemetry import setup_process, telemetry
from runtime.settings import Settings, get_settings
from schemas.errors import ConfigurationError
from sinks.websocket.auth import issue_token
from sinks.websocket.feed import feed_hub
from sinks.websocket.hub import Hub
from sinks.websocket.server import Broadcaster


def run_until_signal(main: Callable[[asyncio.Event], Awaitable[None]], component: str | None = None) -> None:
    """Run `main(stop)`; SIGINT/SIGTERM set `stop` so it can drain and return.

    `component` (default: from the click command, `connect` -> connectors, `broadcast` ->
    broadcaster) names the process in logs, Sentry and metrics; it gets Sentry (not the
    simulator), Prometheus `/metrics` on its port and EMF lines while `main` runs.
    """

    settings = get_settings()
    components = {"connect": "connectors", "broadcast": "broadcaster", "simulate": "simulator"}
    ctx = click.get_current_context(silent=True)
    command = (ctx.info_name if ctx is not None else None) or "sportsflow"
    name = component or components.get(command, command)
    try:
        setup_process(settings, name, sentry=name != "simulator")
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with telemetry(settings, name):
            await main(stop)

    asyncio.run(runner())


async def connect_main(settings: Settings, only: tuple[str, ...], stop: asyncio.Event) -> None:

    await ensure_topics(settings)
    async with KafkaPublisher(client_options(settings)) as publisher:
        await run_connectors(settings, publisher, stop, only or None)


async def simulate_main(settings: Settings, demo: bool, matches: int, stop: asyncio.Event) -> None:

    sim = Simulator(World(matches=matches))
    click.echo(f"provider simulator on http://{settings.simulator.host}:{settings.simulator.port}")
    await run_simulator(sim, settings.simulator.host, settings.simulator.port, stop,
                        tick_s=settings.simulator.tick_s if demo else None)


async def broadcast_main(settings: Settings, stop: asyncio.Event) -> None:
    """Kafka -> hub -> WebSocket clients until `stop` (SIGTERM): then stop intake, close clients, exit."""

    config = settings.broadcaster
    hub = Hub(ring_size=config.resume_ring_records, entity_ttl_s=config.entity_ttl_s)
    broadcaster = Broadcaster(config, hub)
    caught_up, started = asyncio.Event(), asyncio.Event()
    async with asyncio.TaskGroup() as group:
        group.create_task(feed_hub(settings, hub, stop, ready=caught_up))
        # Accept clients only once the replayed history has caught up: snapshots must be current.
        waiting = group.create_task(caught_up.wait())
        await asyncio.wait([waiting, group.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
        if caught_up.is_set():
            # Tens of thousands of long-lived connection objects make every full GC pass long; move
            # what exists now out of the collector's view and collect the young generations less often.
            if config.gc_tuning:
                gc.collect()
                gc.freeze()
                gc.set_threshold(50_000, 50, 100)
            group.create_task(broadcaster.serve(stop, started))
            await started.wait()
            click.echo(f"WebSocket feed on ws://{config.host}:{config.port}/ws")
        waiting.cancel()


# Every Sportsflow process and its `sportsflow` command line: what `sportsflow run` starts, and what
# docker-compose.yml and terraform/ deploy (the simulator only in the demo; tests keep them in step).
PROCESSES: dict[str, list[str]] = {
    "simulator": ["simulate", "--demo"],
    "worker": ["worker"],
    "broadcaster": ["broadcast"],
    "connectors": ["connect"],
    "sink": ["sink"],
    "archive": ["archive"],
    "api": ["api"],
}


DEMO_ENV = Path(__file__).resolve().parent.parent / "demo.env"
# The simulator address demo.env names; `sportsflow run` swaps in the one its simulator listens on.
DEMO_SIMULATOR_URL = "http://127.0.0.1:8900"


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (the Compose env-file subset demo.env uses: no quotes, no interpolation)."""
    env: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"{path}:{number}: not KEY=VALUE")
        env[name.strip()] = value.strip()
    return env


def demo_environment(settings: Settings, path: Path = DEMO_ENV) -> dict[str, str]:
    """demo.env: every connector at the simulator (at `settings.simulator`) with its keys and a fast cadence."""
    sim_url = f"http://{settings.simulator.host}:{settings.simulator.port}"
    return {name: sim_url if value == DEMO_SIMULATOR_URL else value for name, value in read_env_file(path).items()}


def _alive(child: subprocess.Popen[bytes]) -> Callable[[], bool]:
    return lambda: child.poll() is None


def _announce_when_ready(settings: Settings, children: dict[str, subprocess.Popen[bytes]]) -> None:
    """Print each URL once its service answers, so a client that connects on reading it is served."""
    token = issue_token(settings.broadcaster, "demo-client")
    ws_url = f"ws://{settings.broadcaster.host}:{settings.broadcaster.port}/ws"
    board = f"http://{settings.broadcaster.host}:{settings.broadcaster.port}/board?token={token}"
    api = f"http://{settings.api.host}:{settings.api.port}"
    sim = f"http://{settings.simulator.host}:{settings.simulator.port}"
    lines = {
        "simulator": f"Simulator:      {sim}",
        "api": f"REST API:       {api}/events",
        "broadcaster": f"Live board:     {board}\n"
                       f"WebSocket feed: {ws_url}\nDemo token:     {token}\nConnect with:   {ws_url}?token={token}\n"
                       'Then send:      {"action":"subscribe","subscriptions":["live_scores","betting_odds"]}',
    }
    checks = {
        "simulator": http_answers(f"{sim}/"),
        "api": http_answers(f"{api}/health"),
        # The broadcaster's /health answers only once its feed has caught up and it accepts clients.
        "broadcaster": http_answers(f"http://{settings.broadcaster.host}:{settings.broadcaster.port}/health",
                                    ok_only=True),
    }
    probes = [Probe(name, check, alive=_alive(children[name])) for name, check in checks.items()]
    click.echo("\nwaiting for the services to answer...")
    try:
        wait_until_ready(probes, on_ready=lambda name: click.echo(lines[name]), echo=click.echo)
    except NotReadyError as exc:
        raise click.ClickException(f"{exc}; see {settings.stack.home / 'logs'}") from exc
    click.echo("Watch it:       .venv/bin/python -m pipeline.cli watch\nCtrl-C stops everything.\n")


REPORT_EVERY_S = 30.0


def _print_dead_letters(settings: Settings) -> None:
    """Per provider, how many raw records the worker dead-lettered (from its /metrics)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{settings.metrics.port_worker}/metrics", timeout=2) as r:
            line = dead_letter_report(r.read().decode())
    except OSError:
        return  # the worker is still starting: next time
    if line:
        click.echo(line)


def run_all(settings: Settings) -> None:
    """`make run`: worker, simulator, connectors and broadcaster as child processes."""
    env = {**os.environ, **demo_environment(settings), "PYTHONUNBUFFERED": "1"}
    exe = [sys.executable, "-m", "pipeline.cli"]
    commands = {name: [*exe, *argv] for name, argv in PROCESSES.items()}
    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM stops the children like Ctrl-C does, never orphans them

    signal.signal(signal.SIGTERM, interrupt)
    children: dict[str, subprocess.Popen[bytes]] = {}
    logs = settings.stack.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        for name, argv in commands.items():
            log_file = (logs / f"{name}.log").open("ab")
            children[name] = subprocess.Popen(argv, env=env, stdout=log_file, stderr=subprocess.STDOUT)  # noqa: S603
            click.echo(f"started {name:12} pid {children[name].pid:>7}  log {logs / f'{name}.log'}")
        _announce_when_ready(settings, children)
        reported_at = time.monotonic()
        while True:
            for name, child in children.items():
                if child.poll() is not None:
                    raise click.ClickException(f"{name} exited with {child.returncode}; see {logs / name}.log")
            if time.monotonic() - reported_at >= REPORT_EVERY_S:
                reported_at = time.monotonic()
                _print_dead_letters(settings)
            time.sleep(1)
    except KeyboardInterrupt:
        click.echo("\nstopping...")
    finally:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in children.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            if child.poll() is None:
                child.kill()
