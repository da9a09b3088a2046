"""A benchmark's own Kafka broker: free ports, its own home, started and stopped by the benchmark.

A shared broker (the local stack every test and every session uses) must never be restarted by a
benchmark, nor filled with a million seeded table entries. `OwnKafka` runs the stack's own broker
code (`pipeline/stack`) a second time on free loopback ports with a private home; the Kafka jars are
the shared stack's (downloaded once). DynamoDB, S3 and RabbitMQ stay the shared ones.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType

from pipeline.provision import ensure_topics
from pipeline.stack import kafka, services
from runtime.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OwnKafka:
    """`(async) with OwnKafka(settings) as own:` a private single-node broker.

    `own.settings` and `own.env` (for child processes) point at it.
    """

    def __init__(self, base: Settings, keep: bool = False) -> None:
        shared_home = base.stack.home.resolve()
        self.home = shared_home / "own" / uuid.uuid4().hex[:8]
        self.keep = keep
        port, controller = free_port(), free_port()
        stack = base.stack.model_copy(update={"home": self.home, "kafka_port": port,
                                              "kafka_controller_port": controller})
        self.settings = base.model_copy(update={
            "stack": stack,
            "kafka": base.kafka.model_copy(update={"bootstrap_servers": f"127.0.0.1:{port}"}),
        })
        # What a child process (a worker) needs to use this broker and, through restart_broker, this home.
        self.env = {
            "SPORTSFLOW_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
            "SPORTSFLOW_STACK__HOME": str(self.home),
            "SPORTSFLOW_STACK__KAFKA_PORT": str(port),
            "SPORTSFLOW_STACK__KAFKA_CONTROLLER_PORT": str(controller),
        }
        self._shared_home = shared_home

    def __enter__(self) -> OwnKafka:
        libs = kafka.ensure_jars(self._shared_home)  # the jars of the shared stack (fetched once if missing)
        (self.home / "kafka").mkdir(parents=True, exist_ok=True)
        (self.home / "kafka" / "libs").symlink_to(libs, target_is_directory=True)
        services.up(self.settings, echo=lambda _line: None, only=("kafka",))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        services.down(self.settings, echo=lambda _line: None, only=("kafka",))
        if not self.keep:
            shutil.rmtree(self.home, ignore_errors=True)

    async def __aenter__(self) -> OwnKafka:
        return await asyncio.to_thread(self.__enter__)  # the stack's health probe runs its own event loop

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await asyncio.to_thread(self.__exit__, exc_type, exc, tb)

    @property
    def log(self) -> Path:
        return self.home / "logs" / "kafka.log"


async def on_broker(own_broker: bool, play: Callable[[Settings, dict[str, str]], Awaitable[None]]) -> None:
    """Run `play(settings, worker environment)` on a private broker (its topics provisioned) or on the
    stack's."""
    if not own_broker:
        await play(Settings(), {})
        return
    async with OwnKafka(Settings()) as own:
        await ensure_topics(own.settings)
        await play(own.settings, own.env)
