"""Helpers for the push-feed tests: the stack's RabbitMQ (fails in CI when down) and an in-process simulator."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from connectors.simulator.server import Simulator, build_app
from runtime.settings import Settings
from tests.conftest import TIME_UNIT, _require, server_health


@pytest.fixture(scope="session")
def rabbitmq_url(settings: Settings) -> str:
    """The local stack's RabbitMQ (guest on loopback); fails with CI=true when it is not healthy."""
    _require("rabbitmq", server_health(settings, ("rabbitmq",)).get("rabbitmq", False))
    return f"amqp://guest:guest@127.0.0.1:{settings.stack.rabbitmq_port}/"


@contextlib.asynccontextmanager
async def serve(sim: Simulator, configure: Callable[[web.Application], None] | None = None) -> AsyncIterator[
        tuple[str, web.Application]]:
    """The simulator on a free loopback port; yields (base URL, app)."""
    app = build_app(sim)
    if configure is not None:
        configure(app)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        await runner.cleanup()


async def eventually(predicate: Callable[[], Any], timeout: float = 15.0, message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout * TIME_UNIT
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {message}")


@contextlib.asynccontextmanager
async def running(*coroutines: Any) -> AsyncIterator[asyncio.Event]:
    """Run `feed.run(stop)`-style coroutine factories in the background; stop and await them on exit."""
    stop = asyncio.Event()
    tasks = [asyncio.ensure_future(factory(stop)) for factory in coroutines]
    try:
        yield stop
    finally:
        stop.set()
        _done, pending = await asyncio.wait(tasks, timeout=10)
        for task in pending:
            task.cancel()
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
