"""The generic AMQP consumer against the stack's RabbitMQ: ack after Kafka, redelivery, reconnect health."""

from __future__ import annotations

import random

import aio_pika
from pydantic import SecretStr

from connectors.amqp import AmqpConsumer, AmqpEndpoint, Delivery, Handled
from connectors.health import HealthMonitor
from connectors.publisher import MemoryPublisher
from schemas.envelope import RawEnvelope
from tests.connectors.amqp_support import eventually, rabbitmq_url, running

__all__ = ["rabbitmq_url"]


class Echo:
    def handle(self, delivery: Delivery) -> Handled:
        if delivery.body == b"beat":
            return Handled(heartbeat=True)
        return Handled(envelopes=[RawEnvelope(provider="test", feed="f", key=delivery.routing_key,
                                              received_at=delivery.received_at, payload=delivery.body.decode())])


class FailingFirst(MemoryPublisher):
    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def publish(self, envelopes):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("kafka unavailable")
        await super().publish(envelopes)


def endpoint(url: str, **kw) -> AmqpEndpoint:
    port = int(url.rsplit(":", 1)[1].strip("/"))
    return AmqpEndpoint(host="127.0.0.1", port=port, tls=False, username="guest", password=SecretStr("guest"), **kw)


async def send(url: str, exchange: str, messages: list[tuple[str, bytes]]) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        ex = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        for key, body in messages:
            await ex.publish(aio_pika.Message(body), routing_key=key)


async def queue_depth(url: str, queue: str) -> int:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count or 0)


async def test_messages_are_published_then_acked_and_redelivered_after_a_publish_failure(rabbitmq_url):
    """A Kafka failure nacks with requeue: every message arrives exactly once in the sink, none is lost."""
    exchange = f"test.{random.randrange(1 << 30)}"
    await send(rabbitmq_url, exchange, [])  # declare the exchange the consumer binds to (passively)
    publisher, monitor = FailingFirst(failures=1), HealthMonitor()
    consumer = AmqpConsumer("test", "f", endpoint(rabbitmq_url, exchange=exchange, bindings=("k.#",)), Echo(),
                            publisher=publisher, monitor=monitor, expected_beat_s=1.0)
    consumer.backoff.base_s = 0.05
    async with running(consumer.run):
        await eventually(lambda: consumer.consuming, message="consuming")
        await send(rabbitmq_url, exchange, [(f"k.{i}", f"m{i}".encode()) for i in range(20)] + [("other", b"x")])
        await eventually(lambda: len({e.key for e in publisher.envelopes}) == 20, message="all 20 messages")
    assert sorted(e.payload for e in publisher.envelopes) == sorted(f"m{i}" for i in range(20))
    assert monitor.status("test", "f") == "up"


async def test_named_queue_is_consumed_and_emptied(rabbitmq_url):
    """A provider-owned queue (passive) is drained; acked messages leave the queue."""
    queue = f"test.queue.{random.randrange(1 << 30)}"
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        await channel.declare_queue(queue, durable=False, auto_delete=False)
        for i in range(5):
            await channel.default_exchange.publish(aio_pika.Message(f"q{i}".encode()), routing_key=queue)
        await channel.default_exchange.publish(aio_pika.Message(b"beat"), routing_key=queue)
    publisher, monitor = MemoryPublisher(), HealthMonitor()
    consumer = AmqpConsumer("test", "q", endpoint(rabbitmq_url, queue=queue, queue_passive=True), Echo(),
                            publisher=publisher, monitor=monitor, expected_beat_s=1.0)
    async with running(consumer.run):
        await eventually(lambda: consumer.delivered == 6, message="six deliveries")
    assert [e.payload for e in publisher.envelopes] == [f"q{i}" for i in range(5)]
    assert await queue_depth(rabbitmq_url, queue) == 0
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        await (await connection.channel()).queue_delete(queue)


async def test_unreachable_broker_is_reported_down_with_a_reason_and_no_secret(rabbitmq_url):
    """A refused connection marks the feed down; the reason names the error type, not the credentials."""
    monitor = HealthMonitor()
    bad = AmqpEndpoint(host="127.0.0.1", port=1, tls=False, username="user-token-abc",
                       password=SecretStr("pw-secret"), queue="nope")
    consumer = AmqpConsumer("test", "down", bad, Echo(), publisher=MemoryPublisher(), monitor=monitor,
                            expected_beat_s=1.0)
    consumer.backoff.base_s = 0.05
    async with running(consumer.run):
        await eventually(lambda: monitor.status("test", "down") == "down", message="down")
    [record] = monitor.drain()
    assert record.reason.startswith("AMQP connection lost (")
    assert "pw-secret" not in record.reason
    assert "user-token-abc" not in record.reason
