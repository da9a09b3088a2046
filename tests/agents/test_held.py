"""Stage 2's held records (agents/held.py): one flush, then the acks; bounded; released on revocation."""

from __future__ import annotations

import asyncio

from agents.held import Held


class Journal:
    """The flush and ack callables of a Held, writing down what happened in order."""

    def __init__(self) -> None:
        self.steps: list[str] = []

    async def flush(self) -> None:
        await asyncio.sleep(0)  # a real flush awaits Kafka's acks
        self.steps.append("flush")

    async def ack(self, event: str) -> None:
        self.steps.append(f"ack {event}")


def test_one_flush_then_every_record_acked_in_order() -> None:
    journal = Journal()
    held = Held(journal.flush, journal.ack)

    async def run() -> None:
        async with held.lock:
            for event in ("a", "b", "c"):
                held.add(event, 10)
            await held.release()
        assert len(held) == 0

    asyncio.run(run())
    assert journal.steps == ["flush", "ack a", "ack b", "ack c"]


def test_full_at_either_bound() -> None:
    journal = Journal()
    by_records = Held(journal.flush, journal.ack, max_records=3, max_candidates=1000)
    by_candidates = Held(journal.flush, journal.ack, max_records=100, max_candidates=50)
    for event in ("a", "b"):
        by_records.add(event, 1)
        by_candidates.add(event, 20)
    assert not by_records.full()
    assert not by_candidates.full()
    by_records.add("c", 1)
    by_candidates.add("c", 10)
    assert by_records.full()
    assert by_candidates.full()


def test_revocation_releases_what_a_parked_agent_holds() -> None:
    """The agent held records and went back for the next one; the queue was cleared: nothing comes."""
    journal = Journal()
    held = Held(journal.flush, journal.ack)
    queue: asyncio.Queue[str] = asyncio.Queue()

    async def agent() -> None:
        for event in ("a", "b"):
            async with held.lock:
                held.add(event, 5)  # more were waiting: no release
        await queue.get()  # parked, as in Faust's iterator after its queue was cleared

    async def run() -> None:
        parked = asyncio.ensure_future(agent())
        await asyncio.sleep(0.01)
        assert journal.steps == []
        held.release_soon()  # the table manager's first step of a revocation
        await asyncio.sleep(0.01)
        assert journal.steps == ["flush", "ack a", "ack b"]
        parked.cancel()

    asyncio.run(run())


def test_revocation_waits_for_the_record_in_hand() -> None:
    """A release never runs in the middle of a record: its outputs and state would go out half made."""
    journal = Journal()
    held = Held(journal.flush, journal.ack)
    in_hand = asyncio.Event()
    go_on = asyncio.Event()

    async def agent() -> None:
        async with held.lock:
            held.add("a", 5)
            in_hand.set()
            await go_on.wait()  # still processing "a" (an await inside, e.g. a full batch sent)
            journal.steps.append("a processed")
            await held.release()  # the queue was cleared: the agent releases on its own

    async def run() -> None:
        task = asyncio.ensure_future(agent())
        await in_hand.wait()
        held.release_soon()
        await asyncio.sleep(0.01)
        assert journal.steps == []
        go_on.set()
        await task
        await asyncio.sleep(0.01)

    asyncio.run(run())
    assert journal.steps == ["a processed", "flush", "ack a"]  # one flush: the revocation found nothing held
