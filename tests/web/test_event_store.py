"""GET /events reads a bounded number of index pages, in order, and stops calling DynamoDB when cancelled."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import orjson

from sinks.api.app import decode_cursor
from sinks.api.event_store import MAX_CALLS, EventStore
from sinks.api.models import EventQuery

SPORTS = ("soccer", "basketball", "tennis", "icehockey")
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def event_item(n: int, sport: str, start: datetime, kind: str = "event") -> dict:
    start_iso = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    record = {"type": kind, "id": f"ev{n:05d}", "sport": sport, "startTime": start_iso}
    return {"type": {"S": kind}, "gsi1pk": {"S": f"SPORT#{sport}#{start_iso[:10]}"},
            "gsi2pk": {"S": f"DAY#{start_iso[:10]}"}, "gsi1sk": {"S": f"{start_iso}#ev{n:05d}"},
            "record": {"S": orjson.dumps(record).decode()}}


class FakeDynamo:
    """Answers Query like DynamoDB: one partition of one index, sorted, `Limit` items read per page
    (before the filter), `LastEvaluatedKey` when more remain. Counts calls; can block them."""

    def __init__(self, items: list[dict]) -> None:
        self.items = sorted(items, key=lambda i: i["gsi1sk"]["S"])
        self.calls = 0
        self.gate: threading.Event | None = None

    def query(self, **kw) -> dict:
        self.calls += 1
        if self.gate is not None:
            self.gate.wait(5)
        key = "gsi1pk" if kw["IndexName"] == "gsi1" else "gsi2pk"
        values = kw["ExpressionAttributeValues"]
        after = kw.get("ExclusiveStartKey", {}).get("gsi1sk", {}).get("S", values[":lower"]["S"])
        part = [i for i in self.items if i[key]["S"] == values[":pk"]["S"] and i["gsi1sk"]["S"] > after]
        read = part[: kw["Limit"]]
        out = {"Items": [i for i in read if i["type"]["S"] == "event"]}
        if len(part) > kw["Limit"]:
            out["LastEvaluatedKey"] = {"gsi1sk": read[-1]["gsi1sk"]}
        return out


def query(days: int = 14, limit: int = 50, sport: str | None = None, after: str | None = None) -> EventQuery:
    return EventQuery(T0, T0 + timedelta(days=days), limit, sport, None, None, after)


async def test_a_wide_window_reads_one_partition_per_day_not_per_sport_and_day():
    """A 14-day window over every sport with few events: 15 queries (one per day touched), not 15 x 13."""
    items = [event_item(n, SPORTS[n % 4], T0 + timedelta(days=n % 14, hours=n % 24)) for n in range(30)]
    db = FakeDynamo(items)
    page, cursor = await EventStore(db, "t").page(query())
    assert len(page) == 30
    assert cursor is None
    assert db.calls == 15
    starts = [(e["startTime"], e["id"]) for e in page]
    assert starts == sorted(starts)


async def test_pages_follow_each_other_in_order_without_gaps():
    """Following `next` lists every event once, in start order, each page within the call budget."""
    items = [event_item(n, SPORTS[n % 4], T0 + timedelta(hours=n * 3)) for n in range(100)]
    db, seen, cursor = FakeDynamo(items), [], None
    store = EventStore(db, "t")
    while True:
        before = db.calls
        page, cursor = await store.page(query(limit=7, after=decode_cursor(cursor) if cursor else None))
        assert db.calls - before <= MAX_CALLS
        seen += [e["id"] for e in page]
        if cursor is None:
            break
    assert seen == [f"ev{n:05d}" for n in range(100)]


async def test_a_filter_that_rejects_everything_stops_at_the_call_budget():
    """A window full of non-event items is read at most MAX_CALLS pages; the cursor resumes after them."""
    items = [event_item(n, "soccer", T0 + timedelta(minutes=n), kind="race_result") for n in range(2000)]
    items.append(event_item(99999, "soccer", T0 + timedelta(days=3)))
    db = FakeDynamo(items)
    page, cursor = await EventStore(db, "t").page(query(limit=5))
    assert db.calls == MAX_CALLS
    assert page == []
    assert cursor is not None


async def test_a_cancelled_request_makes_no_further_calls():
    """When the request times out, the one call in flight finishes and no other starts."""
    items = [event_item(n, "soccer", T0 + timedelta(days=n % 14)) for n in range(14)]
    db = FakeDynamo(items)
    db.gate = threading.Event()
    task = asyncio.create_task(EventStore(db, "t").page(query()))
    await asyncio.sleep(0.2)
    assert db.calls == 1
    task.cancel()
    db.gate.set()
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0.3)
    assert db.calls == 1
    assert threading.active_count() < 50
