"""Stage 2's held records (agents/held.py): one send, acked when it lands; one batch in the air; bounded;
released on revocation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from agents.held import Held


class Journal:
    """The send and ack callables of a Held, writing down what happened in order."""

    def __init__(self) -> None:
        self.steps: list[str] = []

    async def send(self) -> Callable[[], Awaitable[None]]:
        self.steps.append("send")

        async def land() -> None:
            await asyncio.sleep(0)  # a real landing awaits Kafka's acks
            self.steps.append("landed")

        return land

    async def ack(self, event: str) -> None:
        self.steps.append(f"ack {event}")


def test_one_flush_then_every_record_acked_in_order() -> None:
    journal = Journal()
    held = Held(journal.send, journal.ack)

    async def run() -> None:
        async with held.lock:
            for event in ("a", "b", "c"):
                held.add(event, 10)
            await held.release()
        assert len(held) == 0
        await held.landed()

    asyncio.run(run())
    assert journal.steps == ["send", "landed", "ack a", "ack b", "ack c"]


def test_full_at_either_bound() -> None:
    journal = Journal()
    by_records = Held(journal.send, journal.ack, max_records=3, max_candidates=1000)
    by_candidates = Held(journal.send, journal.ack, max_records=100, max_candidates=50)
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
    held = Held(journal.send, journal.ack)
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
        assert journal.steps == ["send", "landed", "ack a", "ack b"]
        parked.cancel()

    asyncio.run(run())


def test_revocation_waits_for_the_record_in_hand() -> None:
    """A release never runs in the middle of a record: its outputs and state would go out half made."""
    journal = Journal()
    held = Held(journal.send, journal.ack)
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
        await held.landed()

    asyncio.run(run())
    assert journal.steps == ["a processed", "send", "landed", "ack a"]  # one flush: the revocation found nothing held


class Gate:
    """A send whose landing waits until the test opens it: a batch kept in the air."""

    def __init__(self) -> None:
        self.steps: list[str] = []
        self.gates: list[asyncio.Event] = []

    async def send(self) -> Callable[[], Awaitable[None]]:
        gate = asyncio.Event()
        self.gates.append(gate)
        self.steps.append(f"send {len(self.gates)}")

        async def land() -> None:
            await gate.wait()
            self.steps.append(f"landed {len(self.gates) if gate is self.gates[-1] else self.gates.index(gate) + 1}")

        return land

    async def ack(self, event: str) -> None:
        self.steps.append(f"ack {event}")


def test_records_processed_while_a_batch_is_in_the_air_go_up_together_when_it_lands() -> None:
    """The agent is not held up by Kafka's acks; one batch in the air at a time keeps states and acks in order."""
    gate = Gate()
    held = Held(gate.send, gate.ack)

    async def record(event: str) -> None:
        async with held.lock:
            held.add(event, 1)
            await held.release()

    async def run() -> None:
        await record("a")
        await record("b")  # "a" is in the air: "b" waits for its landing, the agent does not
        await record("c")
        assert gate.steps == ["send 1"]
        assert len(held) == 2
        gate.gates[0].set()
        await asyncio.sleep(0.01)
        assert gate.steps == ["send 1", "landed 1", "ack a", "send 2"]  # b and c: one send
        assert len(held) == 0
        gate.gates[1].set()
        await held.landed()

    asyncio.run(run())
    assert gate.steps == ["send 1", "landed 1", "ack a", "send 2", "landed 2", "ack b", "ack c"]


def test_at_the_bound_the_agent_waits_for_the_landing() -> None:
    gate = Gate()
    held = Held(gate.send, gate.ack, max_records=2, max_candidates=1000)

    async def run() -> None:
        for event in ("a", "b", "c"):
            async with held.lock:
                held.add(event, 1)
                await held.release()
        assert held.full()  # b and c held, a in the air
        waiting = asyncio.ensure_future(held.room())
        await asyncio.sleep(0.01)
        assert not waiting.done()
        gate.gates[0].set()
        await asyncio.wait_for(waiting, 1)
        assert not held.full()
        gate.gates[1].set()
        await held.landed()

    asyncio.run(run())
    assert gate.steps == ["send 1", "landed 1", "ack a", "send 2", "landed 2", "ack b", "ack c"]
