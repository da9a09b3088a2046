"""Request and response bodies of the REST API (they are what `docs/openapi.json` documents)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from schemas.canonical import Event, Settlement


class IngestRequest(BaseModel):
    """One provider payload, exactly as the provider's API returned it."""

    model_config = ConfigDict(extra="forbid")

    provider: str = Field(description="Provider name, e.g. theoddsapi (see `sportsflow normalize --list`).")
    feed: str = Field(description="Feed slug of that provider, e.g. odds.")
    params: dict[str, str] = Field(default_factory=dict, description="The request's params, e.g. oddsFormat.")
    key: str | None = Field(None, description="The provider's entity id (Kafka key); derived when omitted.")
    payload: Any = Field(description="The provider's response body: JSON, or a string for XML feeds.")


class IngestAccepted(BaseModel):
    id: str = Field(description="The raw envelope's id (its idempotency key).")


class ErrorBody(BaseModel):
    error: str = Field(description="What went wrong, in a few words.")
    detail: Any = Field(None, description="Context: the normalizer's reason and path, the invalid fields, ...")


class EventsPage(BaseModel):
    items: list[Event] = Field(description="Events ordered by start time, then id.")
    next: str | None = Field(None, description="Cursor for the next page; null on the last page.")


class SettlementsPage(BaseModel):
    items: list[Settlement] = Field(description="The event's current result or void of each market line, "
                                    "ordered by entity key (bookmaker, market, line, kind).")
    next: str | None = Field(None, description="Cursor for the next page; null on the last page.")


class Check(BaseModel):
    ok: bool
    detail: str


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    checks: dict[str, Check] = Field(description="kafka, dynamodb and s3.")


@dataclass(frozen=True, slots=True)
class EventQuery:
    """GET /events, validated: the start-time window, filters, page size and cursor."""

    since: datetime
    until: datetime
    limit: int
    sport: str | None = None
    league: str | None = None
    status: str | None = None
    after: str | None = None  # gsi1sk of the last event of the previous page


EVENT_FIELDS = frozenset(field.alias or name for name, field in Event.model_fields.items())


def event_view(stored: str) -> dict[str, Any]:
    """The documented Event shape: fields a newer writer added are not served until the schema has them."""
    return {k: v for k, v in orjson.loads(stored).items() if k in EVENT_FIELDS}


SETTLEMENT_FIELDS = frozenset(field.alias or name for name, field in Settlement.model_fields.items())


def settlement_view(stored: str) -> dict[str, Any]:
    """The documented Settlement shape (as `event_view`)."""
    return {k: v for k, v in orjson.loads(stored).items() if k in SETTLEMENT_FIELDS}
