"""GET /events and GET /events/{id} from the single DynamoDB table, in a bounded number of calls.

Index partitions hold one start day each: `gsi1` one sport's day (`SPORT#<sport>#<date>`), `gsi2`
every sport's day (`DAY#<date>`); both sort by `gsi1sk` = `<startTime>#<id>`. A page therefore reads
one partition per day of its window (at most 15 for the 14-day maximum), in order, and stops when
it has `limit` events: no fan-out per sport. Every DynamoDB call is one page of one query, made
from the event loop through a worker thread; at most `MAX_CALLS` per request, after which the page
ends early with a cursor where the reading stopped. Cancelling the request (its timeout) stops
further calls at once; the call in flight is bounded by the client's read timeout.
"""

from __future__ import annotations

import asyncio
import base64
from datetime import date, datetime, timedelta
from typing import Any

import orjson

from runtime.aws import TABLE_GSI, TABLE_GSI_DAY
from schemas.timeutil import iso_z
from sinks.api.models import EventQuery, event_view, settlement_view
from sinks.dynamodb import SETTLEMENT_SK_PREFIX, STATE_SK, day_key, event_pk, settlement_pk, sport_day_key

MAX_CALLS = 32  # DynamoDB query pages one GET /events may read


class EventStore:
    """Events from DynamoDB: one item by key, or pages through the start-day indexes."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table
        self.calls = 0  # query pages read since start (tests and metrics)

    async def get(self, event_id: str) -> dict[str, Any] | None:
        response = await asyncio.to_thread(
            self._client.get_item, TableName=self._table,
            Key={"pk": {"S": event_pk(event_id)}, "sk": {"S": STATE_SK}},
        )
        item = response.get("Item")
        return event_view(item["record"]["S"]) if item else None

    async def page(self, q: EventQuery) -> tuple[list[dict[str, Any]], str | None]:
        """Events starting in [since, until), ordered by (startTime, id), after the cursor; and the next cursor."""
        lower = max(q.after or "", iso_z(q.since))
        upper = iso_z(q.until)
        found: list[tuple[str, dict[str, Any]]] = []
        day, last_day = datetime.fromisoformat(lower[:10]).date(), q.until.date()
        calls = 0
        while day <= last_day:
            kwargs = self._query(day, lower, q)
            while True:
                if calls == MAX_CALLS:  # stop reading; resume after the last key looked at
                    start = kwargs.get("ExclusiveStartKey")
                    after = start["gsi1sk"]["S"] if start else (found[-1][0] if found else None)
                    return [record for _, record in found], encode_after(after)
                response = await asyncio.to_thread(self._client.query, **kwargs)
                calls += 1
                self.calls += 1
                for item in response.get("Items", []):
                    sort_key = item["gsi1sk"]["S"]
                    if sort_key >= upper:  # sorted: nothing later is inside the window
                        return [record for _, record in found[: q.limit]], _next(found, q.limit)
                    found.append((sort_key, event_view(item["record"]["S"])))
                if len(found) > q.limit:
                    return [record for _, record in found[: q.limit]], _next(found, q.limit)
                if "LastEvaluatedKey" not in response:
                    break
                kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
            day += timedelta(days=1)
        return [record for _, record in found], None

    async def settlements(self, event_id: str, limit: int, after: str | None = None
                          ) -> tuple[list[dict[str, Any]], str | None]:
        """One event's current settlements (`SETTLEMENT#<id>`, sort keys `S#<entity key>`) after the entity
        key `after`, in one query of at most `limit + 1` items; and the entity key to resume after."""
        lower = f"{SETTLEMENT_SK_PREFIX}{after}" if after is not None else SETTLEMENT_SK_PREFIX
        response = await asyncio.to_thread(
            self._client.query, TableName=self._table, Limit=limit + 1,
            KeyConditionExpression="pk = :pk AND sk > :lower",
            ExpressionAttributeValues={":pk": {"S": settlement_pk(event_id)}, ":lower": {"S": lower}},
        )
        self.calls += 1
        items = [i for i in response.get("Items", []) if i["sk"]["S"].startswith(SETTLEMENT_SK_PREFIX)]
        page = items[:limit]
        more = len(items) > limit or "LastEvaluatedKey" in response
        resume = page[-1]["sk"]["S"][len(SETTLEMENT_SK_PREFIX):] if more and page else None
        return [settlement_view(i["record"]["S"]) for i in page], resume

    def _query(self, day: date, lower: str, q: EventQuery) -> dict[str, Any]:
        filters, values = ["#type = :event"], {":lower": {"S": lower}, ":event": {"S": "event"}}
        if q.sport:
            index, values[":pk"], key = TABLE_GSI, {"S": sport_day_key(q.sport, day.isoformat())}, "gsi1pk"
        else:
            index, values[":pk"], key = TABLE_GSI_DAY, {"S": day_key(day.isoformat())}, "gsi2pk"
        if q.league:
            filters.append("league = :league")
            values[":league"] = {"S": q.league}
        if q.status:
            filters.append("#status = :status")
            values[":status"] = {"S": q.status}
        return {
            "TableName": self._table, "IndexName": index, "Limit": q.limit + 1,
            "KeyConditionExpression": f"{key} = :pk AND gsi1sk > :lower",
            "FilterExpression": " AND ".join(filters), "ExpressionAttributeValues": values,
            "ExpressionAttributeNames": {"#type": "type", **({"#status": "status"} if q.status else {})},
        }


def _next(found: list[tuple[str, dict[str, Any]]], limit: int) -> str | None:
    return encode_after(found[limit - 1][0]) if len(found) > limit else None


def encode_after(after: str | None) -> str | None:
    return encode_cursor(after) if after is not None else None


def encode_cursor(after: str) -> str:
    """An opaque `next`: the gsi1sk to resume after (its day says which partition)."""
    return base64.urlsafe_b64encode(orjson.dumps({"after": after})).decode().rstrip("=")
