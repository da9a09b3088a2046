"""Chunked HTTP push streams (newline-delimited JSON with heartbeat lines), e.g. Sportradar Push.

The stream never replays what was missed while disconnected, so after every reconnect the consumer
calls `catch_up()` once (the provider polls its REST summaries) before reading on. Heartbeat lines beat
the feed's health; a stream that stays quiet longer than `read_timeout_s` is treated as dead and
reopened. Credentials go in headers only and never into logs or error texts.

`run(stop)` is cancel-safe: a line is published before the next is read, and an unfinished line is
read again from REST by the catch-up after the reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import orjson

from connectors.health import HealthMonitor
from connectors.publisher import RawPublisher
from runtime.backoff import Backoff
from schemas.envelope import RawEnvelope
from schemas.errors import SportsflowError
from schemas.timeutil import utc_now

log = logging.getLogger(__name__)


class PushFeed(Protocol):
    """A feed the provider pushes (AMQP, HTTP stream). The runner runs each until `stop`."""

    provider: str
    feed: str

    async def run(self, stop: asyncio.Event) -> None: ...


@dataclass(frozen=True, slots=True)
class StreamLine:
    """What a stream line means: records to publish, a heartbeat, or nothing we use."""

    envelopes: Sequence[RawEnvelope] = ()
    heartbeat: bool = False


LineParser = Callable[[Any], StreamLine]
Headers = Callable[[], dict[str, str]]


class HttpPushStream:
    def __init__(
        self, provider: str, feed: str, client: httpx.AsyncClient, path: str, *, headers: Headers,
        parse: LineParser, publisher: RawPublisher, monitor: HealthMonitor,
        catch_up: Callable[[], Awaitable[None]] | None = None, heartbeat_s: float = 5.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.provider, self.feed, self.client, self.path = provider, feed, client, path
        self.headers, self.parse, self.publisher, self.monitor = headers, parse, publisher, monitor
        self.catch_up = catch_up
        self.heartbeat_s = heartbeat_s
        self.read_timeout_s = heartbeat_s * 3
        self.backoff = backoff or Backoff(base_s=1.0, cap_s=60.0)
        self.connections = 0
        monitor.register(provider, feed, heartbeat_s)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            reading = asyncio.ensure_future(self._read_stream())
            stopping = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopping.cancel()
                if not reading.done():
                    reading.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await reading
            if stop.is_set():
                return
            reason = _reason(reading.exception()) if not reading.cancelled() else "stream cancelled"
            self.monitor.down(self.provider, self.feed, reason)
            delay = self.backoff.next_delay()
            log.warning("%s/%s: %s; reconnecting in %.1fs", self.provider, self.feed, reason, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)

    async def _read_stream(self) -> None:
        timeout = httpx.Timeout(10.0, read=self.read_timeout_s)
        # Sportradar answers the subscribe URL with a redirect to a push host: follow it.
        async with self.client.stream("GET", self.path, headers=self.headers(), timeout=timeout,
                                      follow_redirects=True) as response:
            if response.status_code >= 400:
                raise _StreamRefused(response.status_code)
            self.connections += 1
            self.backoff.reset()
            if self.connections > 1 and self.catch_up is not None:
                await self.catch_up()  # what happened while we were away is not replayed by the stream
            self.monitor.beat(self.provider, self.feed)
            async for line in response.aiter_lines():
                await self._line(line)
        raise _StreamEnded

    async def _line(self, line: str) -> None:
        if not line.strip():
            return
        try:
            parsed = self.parse(orjson.loads(line))
        except orjson.JSONDecodeError:
            log.warning("%s/%s: skipping a line that is not JSON (%d bytes)", self.provider, self.feed, len(line))
            return
        if parsed.envelopes:
            await self.publisher.publish(parsed.envelopes)
            lag = (utc_now() - min(e.received_at for e in parsed.envelopes)).total_seconds()
            self.monitor.beat(self.provider, self.feed, lag)
        elif parsed.heartbeat:
            self.monitor.beat(self.provider, self.feed)


class _StreamRefused(SportsflowError):
    """The server answered the stream request with an error status."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retriable = status == 429 or status >= 500


class _StreamEnded(SportsflowError):
    """The server closed the stream."""

    retriable = True


def _reason(exc: BaseException | None) -> str:
    if isinstance(exc, _StreamRefused):
        return f"stream refused: HTTP {exc.status}"
    if isinstance(exc, _StreamEnded):
        return "stream ended by the server"
    if isinstance(exc, httpx.ReadTimeout):
        return "stream silent: no line or heartbeat within the read timeout"
    # The type only: httpx error texts can contain the URL.
    return f"stream error ({type(exc).__name__})"
