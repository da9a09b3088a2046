"""A generic AMQP 0.9.1 push-feed consumer (aio-pika): deliveries in, raw records to Kafka, then ack.

A provider supplies an `AmqpEndpoint` (where and how to subscribe) and a `MessageHandler` (one
delivery -> raw envelopes, and whether it was a heartbeat or says the feed is down). The consumer

- acks a delivery only after Kafka acknowledged its records (at-least-once; a crash redelivers);
- on a Kafka failure nacks with requeue and backs off, so nothing is dropped;
- reconnects with capped, jittered backoff after any connection loss, reporting the feed down with the
  reason (the error *type*: AMQP error texts may echo the URL, and the UOF username is a token);
- beats the feed's health on heartbeats, and, for feeds without heartbeat messages
  (`idle_beats=True`), while the connection is open and idle.

`run(stop)` is cancel-safe: unacked deliveries return to the broker when the connection closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import aio_pika
from aiormq.exceptions import AMQPError
from pydantic import SecretStr

from connectors.health import HealthMonitor
from connectors.publisher import RawPublisher
from runtime.backoff import Backoff
from schemas.envelope import RawEnvelope
from schemas.timeutil import utc_now

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AmqpEndpoint:
    host: str
    port: int = 5671
    tls: bool = True
    vhost: str = "/"
    username: str = "guest"
    password: SecretStr = field(default_factory=lambda: SecretStr(""))
    exchange: str | None = None  # None: the queue is consumed directly (STATSCORE's per-client queue)
    exchange_passive: bool = True  # providers own their exchanges; declaring would need configure rights
    queue: str = ""  # "" asks the broker for a server-named, exclusive, auto-delete queue
    queue_passive: bool = False
    durable: bool = False  # a named queue that outlives our connection and a broker restart (UOF)
    expires_s: int | None = None  # the broker deletes the queue after this long unused (x-expires)
    bindings: tuple[str, ...] = ("#",)
    prefetch: int = 500
    heartbeat_s: int = 30
    connect_timeout_s: float = 15.0


@dataclass(frozen=True, slots=True)
class Delivery:
    routing_key: str
    body: bytes
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Handled:
    envelopes: Sequence[RawEnvelope] = ()
    heartbeat: bool = False
    down_reason: str | None = None  # the message itself says the feed is unusable (UOF subscribed=0)


class MessageHandler(Protocol):
    def handle(self, delivery: Delivery) -> Handled:
        """Never raises: a message that cannot be understood is published as-is for the DLQ to explain."""


@runtime_checkable
class EnrichingHandler(Protocol):
    async def enrich(self, envelopes: list[RawEnvelope]) -> list[RawEnvelope]:
        """Add what the messages lack and a REST call provides (UOF fixtures), before publishing. Never raises."""


class AmqpConsumer:
    def __init__(
        self, provider: str, feed: str, endpoint: AmqpEndpoint, handler: MessageHandler, *,
        publisher: RawPublisher, monitor: HealthMonitor, expected_beat_s: float, idle_beats: bool = False,
        backoff: Backoff | None = None, batch: int = 100,
    ) -> None:
        self.provider, self.feed, self.endpoint = provider, feed, endpoint
        self.handler, self.publisher, self.monitor = handler, publisher, monitor
        self.expected_beat_s, self.idle_beats = expected_beat_s, idle_beats
        self.backoff = backoff or Backoff(base_s=1.0, cap_s=60.0)
        self.batch = batch
        self.delivered = 0
        self.sessions = 0  # sessions that reached consuming: a new one means a reconnect
        self.consuming = False  # a queue is bound and being consumed
        monitor.register(provider, feed, expected_beat_s)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():

            try:
                await self._session(stop)
            except (AMQPError, OSError, TimeoutError) as exc:  # connection or broker: report, back off, reconnect
                reason = f"AMQP connection lost ({type(exc).__name__})"
                self.monitor.down(self.provider, self.feed, reason)
                delay = self.backoff.next_delay()
                log.warning("%s/%s: %s; reconnecting in %.1fs", self.provider, self.feed, reason, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
            else:
                return  # a session only ends without error when asked to stop

    async def _session(self, stop: asyncio.Event) -> None:

        ep = self.endpoint
        connection = await aio_pika.connect(
            host=ep.host, port=ep.port, login=ep.username, password=ep.password.get_secret_value(),
            virtualhost=ep.vhost, ssl=ep.tls, timeout=ep.connect_timeout_s, heartbeat=ep.heartbeat_s,
        )
        inbox: asyncio.Queue[Any] = asyncio.Queue()
        connection.close_callbacks.add(lambda _conn, exc: inbox.put_nowait(_Closed(exc)))
        async with connection:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=ep.prefetch)
            queue = await channel.declare_queue(
                ep.queue or None, passive=ep.queue_passive, exclusive=not ep.queue, auto_delete=not ep.queue,
                durable=ep.durable, arguments={"x-expires": ep.expires_s * 1000} if ep.expires_s else None,
            )
            if ep.exchange is not None:
                exchange = await channel.declare_exchange(ep.exchange, aio_pika.ExchangeType.TOPIC,
                                                          passive=ep.exchange_passive, durable=True)
                for key in ep.bindings:
                    await queue.bind(exchange, routing_key=key)
            tag = await queue.consume(inbox.put)
            self.backoff.reset()
            log.info("%s/%s: consuming %s", self.provider, self.feed, queue.name)
            self.consuming = True
            self.sessions += 1
            try:
                await self._consume(inbox, stop)
            finally:
                self.consuming = False
                with contextlib.suppress(Exception):  # the channel may already be gone
                    await queue.cancel(tag)

    async def _consume(self, inbox: asyncio.Queue[Any], stop: asyncio.Event) -> None:
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                getter = asyncio.ensure_future(inbox.get())
                done, _ = await asyncio.wait({getter, stopping}, timeout=self.expected_beat_s / 2,
                                             return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    if self.idle_beats and not stop.is_set():
                        self.monitor.beat(self.provider, self.feed)  # connected and idle is healthy here
                    continue
                first = getter.result()
                messages = [first]
                while len(messages) < self.batch and not inbox.empty():
                    messages.append(inbox.get_nowait())
                closed = next((m for m in messages if isinstance(m, _Closed)), None)
                await self._process([m for m in messages if not isinstance(m, _Closed)])
                if closed is not None:
                    raise ConnectionError("broker closed the connection") from closed.exc
        finally:
            stopping.cancel()

    async def _process(self, messages: list[Any]) -> None:
        if not messages:
            return
        envelopes: list[RawEnvelope] = []
        beat, down = False, None
        for message in messages:
            result = self.handler.handle(Delivery(message.routing_key or "", message.body, utc_now()))
            envelopes.extend(result.envelopes)
            beat = beat or result.heartbeat or self.idle_beats
            down = result.down_reason or down
        lag = None
        try:
            if envelopes and isinstance(self.handler, EnrichingHandler):
                envelopes = await self.handler.enrich(envelopes)
            if envelopes:
                await self.publisher.publish(envelopes)
                lag = (utc_now() - min(e.received_at for e in envelopes)).total_seconds()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Kafka is down: give the messages back and let the broker redeliver
            log.warning("%s/%s: publishing failed; requeueing %d", self.provider, self.feed, len(messages),
                        exc_info=True)
            for message in messages:
                await message.nack(requeue=True)
            self.monitor.failure(self.provider, self.feed, f"publishing failed ({type(exc).__name__})")
            await asyncio.sleep(self.backoff.next_delay())
            return
        for message in messages:
            await message.ack()
        self.delivered += len(messages)
        if down is not None:
            self.monitor.down(self.provider, self.feed, down)
        elif beat or envelopes:
            self.monitor.beat(self.provider, self.feed, lag)


@dataclass(frozen=True, slots=True)
class _Closed:
    exc: BaseException | None
