"""The REST API of the original engine: POST /ingest, GET /events, GET /events/{id}, GET /health.

`create_app(settings)` builds the FastAPI app; its lifespan starts the Kafka publisher and the
AWS clients, which tests may inject instead. Every error answer is `{"error": ..., "detail": ...}`.
Run it with `sportsflow api`; `sportsflow api --write-openapi` regenerates docs/openapi.json.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

import orjson
from aiokafka.admin import AIOKafkaAdminClient
from botocore.exceptions import BotoCoreError, ClientError
from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from connectors.publisher import KafkaPublisher, RawPublisher
from runtime.aws import boto_client
from runtime.kafka import client_options
from runtime.observability.hooks import observe_fetch
from runtime.observability.telemetry import telemetry as process_telemetry
from runtime.settings import Settings
from schemas.canonical import Event, Sport, Status
from schemas.timeutil import parse_iso, utc_now
from sinks.api.event_store import EventStore
from sinks.api.ingest import ApiError, accept, read_body, validation_errors, verify_ingest_auth
from sinks.api.models import (
    Check,
    ErrorBody,
    EventQuery,
    EventsPage,
    Health,
    IngestAccepted,
    IngestRequest,
    SettlementsPage,
)

# RFC 3339 date-time with an offset, as the schema's `format: date-time` promises (no epoch numbers, no bare dates).
RFC3339 = r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
# The `Provider` of /ingest posts in the ingestion metrics (the posting provider is the client's claim).
INGEST = "ingest"
MAX_WINDOW = timedelta(days=14)  # GET /events reads one index partition per day: keep it bounded
HEALTH_TTL_S = 1.0  # /health answers from a check at most this old
MAX_ID_CHARS = 512  # DynamoDB keys hold at most 2 KB; longer ids are refused before the query
HealthCheck = Callable[[], Awaitable[str]]


def _error(status: int, error: str, detail: Any = None) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status)


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in codes}


# ---------------------------------------------------------------------------------------------
# Reading events from the single table


def decode_cursor(cursor: str) -> str:
    try:  # the cursor is a gsi1sk, "<startTime>#<id>": its day says which index partition to resume in
        value = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["after"]
        datetime.fromisoformat(value[:10])
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise ApiError(400, "invalid cursor", "pass `next` from the previous page unchanged") from exc
    return str(value)


def _settlement_cursor(after: str | None) -> str | None:
    """An opaque `next` for settlements: the entity key to resume after."""
    return None if after is None else base64.urlsafe_b64encode(orjson.dumps({"key": after})).decode().rstrip("=")


def _settlement_after(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        value = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["key"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise ApiError(400, "invalid cursor", "pass `next` from the previous page unchanged") from exc
    if not isinstance(value, str):
        raise ApiError(400, "invalid cursor", "pass `next` from the previous page unchanged")
    return value


# ---------------------------------------------------------------------------------------------
# Ingest


# ---------------------------------------------------------------------------------------------
# The app


@dataclass(slots=True)
class Deps:
    """What the routes use; the lifespan fills what was not injected."""

    publisher: RawPublisher | None = None
    events: EventStore | None = None
    health: dict[str, HealthCheck] | None = None


def create_app(settings: Settings, deps: Deps | None = None, *, telemetry: bool = False) -> FastAPI:
    """The app; `telemetry`: also serve Prometheus /metrics and flush EMF for its lifetime (the process)."""
    deps = deps or Deps()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with _resources(settings, deps), \
                (process_telemetry(settings, "api") if telemetry else contextlib.nullcontext()):
            yield

    app = FastAPI(title="Sportsflow API", version="1.0.0", lifespan=lifespan,
                  description="Ingest provider payloads and read canonical events and settlements (docs/delivery.md).")
    _install_error_handlers(app)

    @app.post("/ingest", status_code=202, response_model=IngestAccepted,
              responses=_responses(400, 401, 403, 404, 413, 422, 503), openapi_extra={"requestBody": {
                  "required": True, "content": {"application/json": {"schema": IngestRequest.model_json_schema()}}}})
    async def ingest(request: Request) -> IngestAccepted:
        """Validate a provider payload with its normalizer and publish it to `raw.<provider>`."""
        raw = await read_body(request, settings.api.max_body_bytes)
        allowed = verify_ingest_auth(settings, request.headers, raw)
        try:  # an authenticated post that is not accepted is a failed ingestion (FailedIngestionRate)
            accepted = await accept(raw, deps.publisher, allowed)
        except ApiError:
            observe_fetch(INGEST, ok=False)
            raise
        observe_fetch(INGEST, ok=True)
        return accepted

    @app.get("/events", response_model=EventsPage, responses=_responses(400, 422, 503))
    async def list_events(
        *, sport: Sport | None = None, league: Annotated[str | None, Query(max_length=200)] = None,
        status: Status | None = None,
        since: Annotated[str | None, _instant("Earliest start time (default: 24 hours ago).")] = None,
        until: Annotated[str | None, _instant("Start times before this (default: since + 3 days, at most "
                                              "14 days after since).")] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        next: Annotated[str | None, Query(max_length=2000, description="Cursor from the previous page.")] = None,
    ) -> JSONResponse:
        """Recent events from DynamoDB (by start day, of one sport or all), ordered by start time."""
        query = _event_query(since=since, until=until, limit=limit, sport=sport, league=league, status=status,
                             cursor=next)
        assert deps.events is not None
        items, cursor = await _dynamo(deps.events.page(query))
        return JSONResponse({"items": items, "next": cursor})

    @app.get("/events/{event_id}", response_model=Event, responses=_responses(404, 422, 503))
    async def get_event(event_id: Annotated[str, Path(max_length=MAX_ID_CHARS)]) -> JSONResponse:
        """One event's current state."""
        assert deps.events is not None
        record = await _dynamo(deps.events.get(event_id))
        if record is None:
            raise ApiError(404, "unknown event", {"id": event_id})
        return JSONResponse(record)

    @app.get("/events/{event_id}/settlements", response_model=SettlementsPage, responses=_responses(400, 422, 503))
    async def get_settlements(
        event_id: Annotated[str, Path(max_length=MAX_ID_CHARS)], limit: Annotated[int, Query(ge=1, le=200)] = 100,
        next: Annotated[str | None, Query(max_length=4000, description="Cursor from the previous page.")] = None,
    ) -> JSONResponse:
        """The event's settlements: the current result or void of each market line (none yet: an empty list)."""
        assert deps.events is not None
        items, after = await _dynamo(deps.events.settlements(event_id, limit, _settlement_after(next)))
        return JSONResponse({"items": items, "next": _settlement_cursor(after)})

    checked: list[tuple[float, Health]] = []  # the last answer and when (monotonic)
    checking = asyncio.Lock()

    @app.get("/health", response_model=Health, responses={503: {"model": Health}})
    async def health() -> JSONResponse:
        """Each dependency's status; 503 when any is down."""
        # Unauthenticated callers must not fan out to three backends per request (DynamoDB's
        # DescribeTable is rate-limited per account): one check per HEALTH_TTL_S, shared.
        async with checking:
            if not checked or time.monotonic() - checked[0][0] >= HEALTH_TTL_S:
                checks = deps.health or {}
                results = await asyncio.gather(*(_check(fn) for fn in checks.values()))
                body = Health(status="ok" if all(c.ok for c in results) else "degraded",
                              checks=dict(zip(checks, results, strict=True)))
                checked[:] = [(time.monotonic(), body)]
            body = checked[0][1]
        return JSONResponse(body.model_dump(), status_code=200 if body.status == "ok" else 503)

    return app


def _instant(description: str) -> Any:
    return Query(description=description, pattern=RFC3339, json_schema_extra={"format": "date-time"})


def _event_query(*, since: str | None, until: str | None, limit: int, sport: Sport | None,
                 league: str | None, status: Status | None, cursor: str | None) -> EventQuery:
    start = _instant_of(since) if since else utc_now() - timedelta(days=1)
    end = _instant_of(until) if until else start + timedelta(days=3)
    if not start < end <= start + MAX_WINDOW:
        raise ApiError(422, "invalid time window", "until must be after since and at most 14 days later")
    return EventQuery(start, end, limit, sport.value if sport else None, league,
                      status.value if status else None, decode_cursor(cursor) if cursor is not None else None)


def _instant_of(text: str) -> datetime:

    try:
        value = parse_iso(text.upper())
    except (OverflowError, ValueError) as exc:  # month 13; 0001-01-01 with a positive offset
        raise ApiError(422, "invalid time", str(exc)) from exc
    if not 1970 <= value.year <= 9000:  # keys hold four-digit years; nothing is stored outside this range
        raise ApiError(422, "invalid time", "years 1970 to 9000 only")
    return value


def _install_error_handlers(app: FastAPI) -> None:
    async def http_error(_: Request, exc: Exception) -> JSONResponse:  # ApiError and Starlette's own 404/405
        assert isinstance(exc, HTTPException)
        if isinstance(exc, ApiError):
            return _error(exc.status_code, exc.error, exc.extra)
        response = _error(exc.status_code, str(exc.detail), None)
        response.headers.update(exc.headers or {})  # e.g. `Allow` on 405, which RFC 9110 requires
        return response

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return _error(422, "invalid request", json.loads(json.dumps(validation_errors(exc), default=str)))

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)


async def _dynamo(call: Awaitable[Any]) -> Any:
    """botocore errors -> 503 (the table is unreachable or refusing), never a bare 500."""

    try:
        async with asyncio.timeout(10):
            return await call
    except (BotoCoreError, ClientError, TimeoutError) as exc:
        raise ApiError(503, "DynamoDB unavailable", f"{type(exc).__name__}: {exc}") from exc


async def _check(fn: HealthCheck, timeout_s: float = 3.0) -> Check:
    try:
        async with asyncio.timeout(timeout_s):
            return Check(ok=True, detail=await fn())
    except Exception as exc:  # noqa: BLE001 - a health check reports any failure instead of raising
        return Check(ok=False, detail=f"{type(exc).__name__}: {exc}"[:500])


@asynccontextmanager
async def _resources(settings: Settings, deps: Deps) -> AsyncIterator[None]:
    """Start what was not injected: the Kafka publisher and admin client, the AWS clients."""


    dynamodb = await asyncio.to_thread(boto_client, settings, "dynamodb")
    s3 = await asyncio.to_thread(boto_client, settings, "s3")
    admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=3000)
    async with KafkaPublisher(client_options(settings)) as publisher:
        await admin.start()
        try:
            deps.publisher = deps.publisher or publisher
            deps.events = deps.events or EventStore(dynamodb, settings.aws.dynamodb_table)
            deps.health = deps.health or {
                "kafka": lambda: _kafka_health(admin),
                "dynamodb": lambda: _aws(dynamodb.describe_table, "Table", TableName=settings.aws.dynamodb_table),
                "s3": lambda: _aws(s3.head_bucket, "bucket", Bucket=settings.aws.s3_bucket),
            }
            yield
        finally:
            await admin.close()


async def _kafka_health(admin: Any) -> str:
    return f"{len((await admin.describe_cluster()).get('brokers', []))} broker(s)"


async def _aws(call: Callable[..., Any], what: str, **kwargs: Any) -> str:
    response = await asyncio.to_thread(call, **kwargs)
    return f"table {response['Table']['TableStatus']}" if what == "Table" else "bucket reachable"


def openapi_document(settings: Settings) -> str:
    """docs/openapi.json: stable key order and a trailing newline, so diffs are reviewable."""
    return json.dumps(create_app(settings).openapi(), indent=2, sort_keys=True) + "\n"
