"""The live board, end to end: headless Chromium on `/board` of a real broadcaster, fed by the
simulator through the connectors and a worker on the local stack.

What a viewer would see is read from the page's DOM over the DevTools protocol: score changes
arrive within a second of the worker publishing them, a provider that fails shows as down with
its reason, and a killed-and-restarted broadcaster shows stale, then resumed.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from connectors.simulator.faults import Fault
from connectors.simulator.server import Simulator, run_simulator
from connectors.simulator.world import World
from pipeline.commands import demo_environment
from runtime.settings import Settings
from schemas import topics
from sinks.websocket.auth import issue_token
from tests.conftest import ROOT, TIME_UNIT, free_port, published_by
from tests.web.cdp import Page, chromium, require_chromium

pytestmark = [pytest.mark.integration, pytest.mark.timeout(360)]
ARTIFACTS = ROOT / "tests" / "artifacts"
LOGS = ROOT / ".stack" / "logs"
DOWN_PROVIDER = "theoddsapi"


class Proc:
    """A `sportsflow` command as a child process, logging to .stack/logs."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.name, self.argv, self.env = name, argv, env
        self.log = LOGS / f"test-board-{name}-{os.getpid()}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", *self.argv], cwd=ROOT, env=self.env,
                                         stdout=out, stderr=subprocess.STDOUT)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


async def answers(url: str, timeout: float, what: str) -> None:
    """Wait for `url` to answer 200 without blocking the loop (the simulator runs in it)."""
    deadline = time.monotonic() + timeout * TIME_UNIT
    while not await asyncio.to_thread(http_ok, url):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not answer at {url}")
        await asyncio.sleep(0.2)


@pytest.fixture
async def demo(stack: Settings, worker: str) -> AsyncIterator[dict[str, Any]]:
    """A simulator of its own (a fresh seed: its games are no other run's games; they move every
    second), every connector pointed at it, and a broadcaster process."""
    require_chromium()
    sim_port, ws_port = free_port(), free_port()
    sim = Simulator(World(seed=random.randrange(1 << 30), matches=6))
    stop = asyncio.Event()
    sim_task = asyncio.create_task(run_simulator(sim, "127.0.0.1", sim_port, stop, tick_s=1.0))
    await answers(f"http://127.0.0.1:{sim_port}/_sim/state", 30, "the simulator")
    settings = stack.model_copy(update={"simulator": stack.simulator.model_copy(update={"port": sim_port})})
    base = {**os.environ, "PYTHONUNBUFFERED": "1"}
    connectors = Proc("connectors", ["connect"], {**base, **demo_environment(settings),
                                                  "SPORTSFLOW_METRICS__PORT_CONNECTORS": str(free_port())}).start()
    broadcaster = Proc("broadcaster", ["broadcast"], {
        **base, "SPORTSFLOW_BROADCASTER__PORT": str(ws_port), "SPORTSFLOW_BROADCASTER__REPLAY_S": "300",
        "SPORTSFLOW_METRICS__PORT_BROADCASTER": str(free_port())}).start()
    try:
        await answers(f"http://127.0.0.1:{ws_port}/health", 60, "the broadcaster")
        yield {"sim": sim, "board": f"http://127.0.0.1:{ws_port}/board", "broadcaster": broadcaster,
               "worker": worker}
    finally:
        for proc in (broadcaster, connectors):
            await asyncio.to_thread(proc.stop)
        stop.set()
        await sim_task


async def until(page: Page, expression: str, timeout: float, message: str) -> object:
    """Poll a JavaScript expression in the page until it is truthy."""
    deadline = time.monotonic() + timeout * TIME_UNIT
    while time.monotonic() < deadline:
        value = await page.evaluate(f"(() => {{ try {{ return ({expression}); }} catch (e) {{ return null; }} }})()")
        if value:
            return value
        await asyncio.sleep(0.1)
    states = await page.evaluate("JSON.stringify(window.sportsflowBoard && window.sportsflowBoard.states)")
    raise AssertionError(f"timed out waiting for {message}; connection states: {states}; page errors: {page.errors}")


STATES = "window.sportsflowBoard.states.map(s => s.state)"
CONN_STATE = "document.getElementById('conn').dataset.state"
# Cards whose score changed while the page watched: event id, score shown, when it changed on screen,
# when its frame arrived (page clock) and when the broadcaster read it.
CHANGED = """[...document.querySelectorAll('.match[data-changed-at]')].map(n => [n.dataset.eventId,
  n.dataset.score, Number(n.dataset.changedAt), Number(n.dataset.arrivedAt), Number(n.dataset.hubAt)])"""


def score_text(record: dict[str, Any]) -> str:
    score = record.get("score") or {}
    return "-".join("-" if score.get(side) is None else str(score[side]) for side in ("home", "away"))


async def follow(consumer: Any, sink: Callable[[Any], None]) -> None:
    while True:
        for messages in (await consumer.getmany(timeout_ms=100)).values():
            for message in messages:
                sink(message)


async def score_change_within_a_second(page: Page, published: dict[tuple[str, str], int]) -> None:
    """Every score change the page showed was drawn within 1 s of the worker publishing it."""
    timings: list[str] = []
    delays: list[int] = []
    deadline = time.monotonic() + 60 * TIME_UNIT
    changed: list[list[Any]] = []
    while not delays and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        changed = await page.evaluate(CHANGED)
        for eid, score, drawn, arrived, hub in changed:
            if (eid, score) in published:
                kafka = published[(eid, score)]
                delays.append(drawn - kafka)
                timings.append(f"{eid} {score}: to broadcaster {hub - kafka} ms, to page {arrived - hub} ms, "
                               f"drawn {drawn - arrived} ms")
    assert delays, (f"no score change published by the worker reached the page; the worker published "
                    f"{len(published)} scores, the page changed {changed[:5]}")
    assert max(delays) < 1000 * TIME_UNIT, f"worker -> page took {delays} ms: {timings}"


async def the_other_panels_fill(page: Page) -> None:
    """Odds per bookmaker and market with the last change marked, and a latency readout."""
    cell = await until(page, "document.querySelector('#odds td.last-change') && "
                             "document.querySelector('#odds td.last-change').textContent", 30, "a highlighted price")
    assert re.search(r"\d\.\d\d", str(cell)), cell
    engine = await until(page, "/\\d/.test(document.getElementById('engine-p50').textContent) && "
                               "document.getElementById('engine-n').textContent", 10, "the latency readout")
    assert "updates in the last minute" in str(engine), engine


async def provider_down_shows_reason(page: Page, sim: Simulator, reports: list[dict[str, Any]]) -> None:
    """A provider whose API keeps failing shows as down, with the reason its connector reported."""
    rows = f"[...document.querySelectorAll('#feeds tr[data-feed^=\"{DOWN_PROVIDER}|\"]')]"
    await until(page, f"{rows}.length && {rows}.every(r => r.dataset.status === 'up')", 60,
                f"every {DOWN_PROVIDER} feed to show as up first")
    reports.clear()
    sim.faults.add(DOWN_PROVIDER, Fault("server_error"), count=10_000)  # every request answers 503
    row = f"document.querySelector('#feeds tr[data-feed^=\"{DOWN_PROVIDER}|\"][data-status=\"down\"]')"
    reason = await until(page, f"{row} && {row}.querySelector('.reason').textContent", 90,
                         f"{DOWN_PROVIDER} to show as down")
    downs = {r["reason"] for r in reports if r["provider"] == DOWN_PROVIDER and r["status"] == "down"}
    assert reason in downs, f"the page shows {reason!r}; {DOWN_PROVIDER} reported down with {downs}"


async def frozen_then_killed_broadcaster(page: Page, broadcaster: Proc) -> None:
    """Frozen (no frames, socket open): stale after N s, live again when it thaws. Killed: stale at
    once; restarted: resumed, with every missed frame replayed."""
    assert broadcaster.proc is not None
    seen = len(await page.evaluate(STATES))
    broadcaster.proc.send_signal(signal.SIGSTOP)
    try:
        stale = await until(page, f"window.sportsflowBoard.states.slice({seen}).find(s => s.state === 'stale')", 15,
                            "the board to notice a silent feed")
        assert "no message" in str(stale), stale
    finally:
        broadcaster.proc.send_signal(signal.SIGCONT)
    await until(page, f"{CONN_STATE} === 'live'", 15, "the board to go live again")

    seen = len(await page.evaluate(STATES))
    broadcaster.stop(signal.SIGKILL)
    await until(page, f"{STATES}.slice({seen}).includes('stale')", 10, "the board to show stale")
    assert await page.evaluate(CONN_STATE) == "stale"
    await page.screenshot(ARTIFACTS / "board-stale.png")
    broadcaster.start()
    resumed = await until(page, f"window.sportsflowBoard.states.slice({seen}).find(s => s.state === 'resumed')",
                          60, "the board to resume")
    assert isinstance(resumed, dict), resumed
    assert resumed["recovered"] is True, "every frame missed while it was down was replayed"


async def restart_without_history_resumes_unrecovered(page: Page, broadcaster: Proc) -> None:
    """A broadcaster that starts at the topics' end cannot replay what the page missed: the page
    says so (recovered false) and starts again from the fresh snapshot."""
    seen = len(await page.evaluate(STATES))
    broadcaster.stop(signal.SIGKILL)
    await until(page, f"{STATES}.slice({seen}).includes('stale')", 10, "the board to show stale")
    await asyncio.sleep(1.5)  # the simulator keeps publishing: the page's cursor falls behind the end
    broadcaster.env = {**broadcaster.env, "SPORTSFLOW_BROADCASTER__REPLAY_S": "0"}
    broadcaster.start()
    resumed = await until(page, f"window.sportsflowBoard.states.slice({seen}).find(s => s.state === 'resumed')",
                          60, "the board to resume")
    assert isinstance(resumed, dict), resumed
    assert resumed["recovered"] is False, resumed
    assert await page.evaluate("document.getElementById('conn-text').textContent") == "Resumed · fresh snapshot"


async def test_live_board_in_headless_chromium(demo: dict[str, Any], consumer_factory: Any, tmp_path: Path) -> None:
    token = issue_token(Settings().broadcaster, "board-test")
    published: dict[tuple[str, str], int] = {}  # (event id, "home-away") -> first publish time (ms)
    reports: list[dict[str, Any]] = []

    def note_event(message: Any) -> None:
        if published_by(message, demo["worker"]):
            record = orjson.loads(message.value)
            published.setdefault((record["id"], score_text(record)), message.timestamp)

    readers = [asyncio.create_task(follow(await consumer_factory(topics.EVENTS), note_event)),
               asyncio.create_task(follow(await consumer_factory(topics.FEED_STATUS),
                                          lambda m: reports.append(orjson.loads(m.value))))]
    async with chromium(tmp_path / "profile") as page:
        try:
            # Basketball is left out: benchmarks on a shared stack flood it with games of their own.
            await page.goto(f"{demo['board']}?token={token}&stale=3&sport=soccer&sport=americanfootball")
            await until(page, f"{STATES}.includes('live')", 30, "the board to go live")
            assert "token=" not in await page.evaluate("location.href"), "the token stays out of the address bar"
            assert "sport=soccer" in await page.evaluate("location.href"), "the filters stay"
            await score_change_within_a_second(page, published)
            await the_other_panels_fill(page)
            await provider_down_shows_reason(page, demo["sim"], reports)
            await frozen_then_killed_broadcaster(page, demo["broadcaster"])
            await asyncio.sleep(1.5)  # let the flash animations settle for the picture
            await page.screenshot(ARTIFACTS / "board.png")
            await page.screenshot(ARTIFACTS / "board-full.png", full=True)
            await restart_without_history_resumes_unrecovered(page, demo["broadcaster"])

            # A bad token: a clear message and the token form, no retry loop.
            await page.goto(f"{demo['board']}?token=not-a-jwt")
            message = await until(page, "!document.getElementById('auth').hidden && "
                                        "document.getElementById('auth-message').textContent", 20, "the token prompt")
            assert "refused" in str(message), message
            assert "malformed token" in str(message), message
            await page.screenshot(ARTIFACTS / "board-denied.png")
        finally:
            for reader in readers:
                reader.cancel()
