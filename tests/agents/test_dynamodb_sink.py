"""The DynamoDB sink against the stack's DynamoDB server (moto) and Kafka."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from runtime.aws import boto_client
from schemas import topics
from schemas.errors import SinkWriteError
from sinks.dynamodb import DynamoTable, Item, run_dynamodb_sink
from tests.agents.sinks import event, eventually, produce, running, sink_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ddb(stack):
    return boto_client(stack, "dynamodb")


def get(ddb, settings, pk: str, sk: str) -> dict | None:
    return ddb.get_item(TableName=settings.aws.dynamodb_table, Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item")


async def aget(ddb, settings, pk, sk):
    return await asyncio.to_thread(get, ddb, settings, pk, sk)


async def committed(settings, group: str, partition: int) -> int | None:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        return await consumer.committed(TopicPartition(topics.EVENTS, partition))
    finally:
        await consumer.stop()


async def test_state_and_history_items_are_written_with_ttl(stack, ddb, unique):
    """A canonical event becomes its STATE item and a V#<epoch>#<seq> history item carrying expiresAt."""
    settings = sink_settings(stack, unique)
    eid = f"ev-{unique}"
    async with running(lambda stop, ready: run_dynamodb_sink(settings, stop, ready=ready, auto_offset_reset="latest")):
        await produce(settings, topics.EVENTS, eid.encode(), event(eid, 7, home=3).to_json())
        state = await eventually(lambda: aget(ddb, settings, f"EVENT#{eid}", "STATE"), message="state item")
    assert state["seq"]["N"] == "7"
    assert state["gsi1pk"]["S"].startswith("SPORT#basketball#")
    history = await aget(ddb, settings, f"EVENT#{eid}", "V#0000000000000#000000000007")
    expires = int(history["expiresAt"]["N"])
    assert abs(expires - (time.time() + settings.aws.ttl_days * 86400)) < 120


async def test_older_seq_never_overwrites_newer(stack, ddb, unique):
    """Seq 5 then seq 3: the state keeps seq 5; seq 3 is still kept as history."""
    settings = sink_settings(stack, unique)
    eid = f"ev-{unique}"
    async with running(lambda stop, ready: run_dynamodb_sink(settings, stop, ready=ready, auto_offset_reset="latest")):
        await produce(settings, topics.EVENTS, eid.encode(), event(eid, 5, home=5).to_json())
        await eventually(lambda: aget(ddb, settings, f"EVENT#{eid}", "STATE"), message="seq 5")
        await produce(settings, topics.EVENTS, eid.encode(), event(eid, 3, home=3).to_json())
        await eventually(lambda: aget(ddb, settings, f"EVENT#{eid}", "V#0000000000000#000000000003"),
                         message="seq 3 history")
    state = await aget(ddb, settings, f"EVENT#{eid}", "STATE")
    assert state["seq"]["N"] == "5"
    assert '"home":5' in state["record"]["S"]


async def test_conditional_put_reports_stale_writes(stack, ddb, unique):
    """put_if_newer: True for a newer version, False (not an error) for an older or the same one."""
    table = DynamoTable(ddb, stack.aws.dynamodb_table)

    def item(seq: int, epoch: int = 7, ts: int = 1) -> Item:
        return {"pk": {"S": f"EVENT#cond-{unique}"}, "sk": {"S": "STATE"}, "epoch": {"N": str(epoch)},
                "seq": {"N": str(seq)}, "ts": {"N": str(ts)}}

    assert await table.put_if_newer(item(2)) is True
    assert await table.put_if_newer(item(1)) is False
    assert await table.put_if_newer(item(2)) is False
    assert await table.put_if_newer(item(3)) is True
    # Another lineage: the later record time wins, whatever the seq.
    assert await table.put_if_newer(item(1, epoch=9, ts=0)) is False  # a backfill of older data
    assert await table.put_if_newer(item(1, epoch=9, ts=5)) is True   # a new lineage (state expired)
    assert await table.put_if_newer(item(4, epoch=7, ts=4)) is False  # the old lineage is over


async def test_new_lineage_replaces_the_state_and_keeps_the_old_history(stack, ddb, unique):
    """Seq 5 of one epoch, then seq 1 of a later epoch with newer data: the state is the newer version and
    both history rows stay (seq 1 used to be refused as older than 5)."""
    settings = sink_settings(stack, unique)
    eid = f"ev-{unique}"
    old = event(eid, 5, home=5).model_copy(update={"epoch": 1_000})
    new = event(eid, 1, home=6).model_copy(update={"epoch": 2_000})
    async with running(lambda stop, ready: run_dynamodb_sink(settings, stop, ready=ready, auto_offset_reset="latest")):
        await produce(settings, topics.EVENTS, eid.encode(), old.to_json())
        await eventually(lambda: aget(ddb, settings, f"EVENT#{eid}", "STATE"), message="epoch 1000 seq 5")
        await produce(settings, topics.EVENTS, eid.encode(), new.to_json())
        await eventually(lambda: aget(ddb, settings, f"EVENT#{eid}", "V#0000000002000#000000000001"),
                         message="epoch 2000 seq 1 history")
    state = await aget(ddb, settings, f"EVENT#{eid}", "STATE")
    assert (state["epoch"]["N"], state["seq"]["N"]) == ("2000", "1")
    assert '"home":6' in state["record"]["S"]
    assert await aget(ddb, settings, f"EVENT#{eid}", "V#0000000001000#000000000005") is not None


class GatedTable:
    """A table seam that fails with a throttling error until `gate` is set, then writes to DynamoDB."""

    def __init__(self, real: DynamoTable) -> None:
        self.real = real
        self.gate = asyncio.Event()
        self.attempts = 0

    async def put_if_newer(self, item: Item) -> bool:
        return await self.real.put_if_newer(item)

    async def put_batch(self, items) -> None:
        self.attempts += 1
        if not self.gate.is_set():
            raise SinkWriteError("dynamodb", "BatchWriteItem", "ThrottlingException", "test", retriable=True)
        await self.real.put_batch(items)


async def test_offset_is_committed_only_after_a_successful_write(stack, ddb, unique):
    """While writes fail the offset stays uncommitted and the record is delivered again; then it commits."""
    settings = sink_settings(stack, unique)
    group = f"{settings.processing.app_id}-dynamodb"
    table = GatedTable(DynamoTable(ddb, settings.aws.dynamodb_table, attempts=1))
    eid = f"ev-{unique}"
    run = lambda stop, ready: run_dynamodb_sink(settings, stop, table=table, ready=ready,  # noqa: E731
                                                auto_offset_reset="latest")
    async with running(run):
        partition, offset = await produce(settings, topics.EVENTS, eid.encode(), event(eid, 1).to_json())
        await eventually(lambda: asyncio.sleep(0, table.attempts >= 3), message="re-deliveries")
        assert await committed(settings, group, partition) is None
        assert await aget(ddb, settings, f"EVENT#{eid}", "STATE") is None
        table.gate.set()
        await eventually(lambda: aget(ddb, settings, f"EVENT#{eid}", "STATE"), message="the write")
        await eventually(lambda: committed(settings, group, partition), message="the commit")
    assert await committed(settings, group, partition) >= offset + 1  # others may share the partition


async def test_garbage_on_a_canonical_topic_is_dead_lettered(stack, ddb, unique, consumer_factory):
    """A record that is not a canonical record goes to the dead-letter topic and the sink moves on."""
    settings = sink_settings(stack, unique)
    dead = await consumer_factory(topics.DEADLETTER)
    eid = f"ev-{unique}"
    async with running(lambda stop, ready: run_dynamodb_sink(settings, stop, ready=ready, auto_offset_reset="latest")):
        await produce(settings, topics.EVENTS, eid.encode(), f"garbage {unique}".encode())
        await produce(settings, topics.EVENTS, eid.encode(), event(eid, 1).to_json())
        await eventually(lambda: aget(ddb, settings, f"EVENT#{eid}", "STATE"), message="the good record")
    from tests.conftest import collect

    [letter] = await collect(dead, lambda m: unique in m.value.decode())
    assert b"not a storable canonical record" in letter.value
