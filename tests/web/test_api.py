"""The REST API against the real stack (Kafka, DynamoDB, S3), through httpx's ASGI transport."""

from __future__ import annotations

import hashlib
import hmac
import json
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest

from runtime.aws import boto_client
from runtime.settings import Settings
from schemas import topics
from schemas.canonical import SettledOutcome, Settlement
from sinks.api.app import Deps, create_app, openapi_document
from sinks.dynamodb import DynamoTable, record_items
from tests.agents.sinks import event
from tests.conftest import ROOT, collect
from tests.integration.test_odds_flow import odds_payload

KEY = Settings().api.ingest_api_key.get_secret_value()


@pytest.fixture
async def client(api_stack):
    app = create_app(api_stack)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api") as c:
        yield c


def body(unique: str, **overrides) -> dict:
    return {"provider": "theoddsapi", "feed": "odds", "params": {"oddsFormat": "american"},
            "payload": odds_payload(unique), **overrides}


def test_openapi_document_is_committed_and_current():
    """docs/openapi.json is what the app serves; regenerate with `sportsflow api --write-openapi docs/openapi.json`."""
    committed = (ROOT / "docs" / "openapi.json").read_text()
    assert committed == openapi_document(Settings()), "docs/openapi.json drifted: regenerate it"


@pytest.mark.integration
async def test_ingest_with_api_key_publishes_a_raw_envelope(client, consumer_factory, unique):
    """POST /ingest with X-API-Key answers 202 with the envelope id, and the envelope is on raw.<provider>."""
    raw = await consumer_factory(topics.raw_topic("theoddsapi"))
    response = await client.post("/ingest", json=body(unique), headers={"X-API-Key": KEY})
    assert response.status_code == 202, response.text
    envelope_id = response.json()["id"]
    [message] = await collect(raw, lambda m: orjson.loads(m.value)["id"] == envelope_id)
    envelope = orjson.loads(message.value)
    assert (envelope["provider"], envelope["feed"], envelope["key"]) == ("theoddsapi", "odds", unique)
    assert envelope["payload"][0]["id"] == unique


@pytest.mark.integration
async def test_ingest_with_hmac_signature(client, unique):
    """An X-Signature of sha256=<HMAC of the raw body> is accepted; a wrong one is 401."""
    raw = orjson.dumps(body(unique))
    good = "sha256=" + hmac.new(KEY.encode(), raw, hashlib.sha256).hexdigest()
    ok = await client.post("/ingest", content=raw, headers={"X-Signature": good, "Content-Type": "application/json"})
    assert ok.status_code == 202, ok.text
    bad = await client.post("/ingest", content=raw + b" ", headers={"X-Signature": good})
    assert bad.status_code == 401
    assert bad.json()["error"] == "unauthorized"


@pytest.mark.integration
@pytest.mark.parametrize(("content", "headers", "status", "error"), [
    (b"{}", {}, 401, "unauthorized"),
    (b"{}", {"X-API-Key": "wrong"}, 401, "unauthorized"),
    (b"{not json", {"X-API-Key": KEY}, 400, "malformed JSON"),
    (b'{"provider": "theoddsapi"}', {"X-API-Key": KEY}, 422, "invalid request"),
    (b'{"provider": "nope", "feed": "odds", "payload": []}', {"X-API-Key": KEY}, 404, "unknown provider or feed"),
    (b"x" * (1024 * 1024 + 1), {"X-API-Key": KEY}, 413, "body too large"),
])
async def test_ingest_refusals_have_a_json_reason(client, content, headers, status, error):
    """Auth, size, JSON and shape failures answer with their status and {"error", "detail"}."""
    response = await client.post("/ingest", content=content, headers=headers)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert "detail" in response.json()


@pytest.mark.integration
async def test_invalid_payload_is_422_with_the_normalizer_reason_and_path(client, unique):
    """A payload the normalizer rejects is 422 with its reason and JSON path; nothing is published."""
    payload = odds_payload(unique)
    payload[0]["bookmakers"][0]["markets"][0]["outcomes"][0]["price"] = "not-a-price"
    response = await client.post("/ingest", json=body(unique, payload=payload), headers={"X-API-Key": KEY})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail["path"] == "$[0].bookmakers[0].markets[0].outcomes[0].price"
    assert "valid number" in detail["error"]


@pytest.fixture
def events_day(unique) -> datetime:
    """A day of its own far in the future, so other tests' events never share the index partition."""
    return datetime(2040, 1, 1, tzinfo=UTC) + timedelta(days=zlib.crc32(unique.encode()) % 5000)


@pytest.fixture
async def stored_events(api_stack, unique, events_day):
    table = DynamoTable(boto_client(api_stack, "dynamodb"), api_stack.aws.dynamodb_table)
    now = int(datetime.now(UTC).timestamp())
    stored = []
    for i in range(5):
        record = event(f"api-{unique}-{i}", 1, league=unique, start=events_day + timedelta(hours=i),
                       status="final" if i == 4 else "scheduled", sport="soccer" if i % 2 else "basketball")
        await table.put_if_newer(record_items(record, now_s=now, ttl_days=1).state)
        stored.append(record)
    return stored


@pytest.mark.integration
async def test_events_are_listed_in_start_order_with_cursor_pages(client, stored_events, unique, events_day):
    """GET /events pages through the sport/day index across sports, in start-time order."""
    params = {"league": unique, "since": events_day.isoformat(), "limit": 2}
    seen, pages, cursor = [], 0, None
    while True:
        response = await client.get("/events", params={**params, **({"next": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        seen.extend(e["id"] for e in page["items"])
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == [e.id for e in stored_events]
    assert pages == 3


@pytest.mark.integration
async def test_events_filters(client, stored_events, unique, events_day):
    """sport and status filter the list."""
    base = {"league": unique, "since": events_day.isoformat()}
    soccer = (await client.get("/events", params={**base, "sport": "soccer"})).json()["items"]
    assert [e["id"] for e in soccer] == [f"api-{unique}-1", f"api-{unique}-3"]
    final = (await client.get("/events", params={**base, "status": "final"})).json()["items"]
    assert [e["id"] for e in final] == [f"api-{unique}-4"]
    later = (await client.get("/events", params={**base, "since": (events_day + timedelta(hours=3)).isoformat()}))
    assert [e["id"] for e in later.json()["items"]] == [f"api-{unique}-3", f"api-{unique}-4"]


@pytest.mark.integration
async def test_get_event_and_unknown_event(client, stored_events, unique):
    """GET /events/{id} returns the canonical event (a SportsEvent superset); an unknown id is 404."""
    found = await client.get(f"/events/api-{unique}-0")
    assert found.status_code == 200
    assert {"id", "sport", "homeTeam", "awayTeam", "score", "status", "timestamp"} <= set(found.json())
    missing = await client.get(f"/events/nope-{unique}")
    assert missing.status_code == 404
    assert missing.json()["error"] == "unknown event"


@pytest.mark.integration
async def test_bad_cursor_and_window_are_refused(client):
    """A forged cursor is 400; a window over 14 days is 422."""
    assert (await client.get("/events", params={"next": "garbage!"})).status_code == 400
    response = await client.get("/events", params={"since": "2030-01-01T00:00:00Z", "until": "2030-03-01T00:00:00Z"})
    assert response.status_code == 422


@pytest.mark.integration
async def test_health_reports_each_dependency(client):
    """With the stack up every dependency is ok and the answer is 200."""
    response = await client.get("/health")
    assert response.status_code == 200, response.text
    assert set(response.json()["checks"]) == {"kafka", "dynamodb", "s3"}
    assert all(c["ok"] for c in response.json()["checks"].values())


@pytest.mark.integration
async def test_health_is_503_when_a_dependency_fails(stack):
    """A failing check makes the answer 503 and names the failure."""
    async def ok() -> str:
        return "fine"

    async def down() -> str:
        raise ConnectionError("refused")

    app = create_app(stack, Deps(health={"kafka": ok, "dynamodb": down, "s3": ok}))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api") as c:
        response = await c.get("/health")
    assert response.status_code == 503
    assert response.json()["checks"]["dynamodb"] == {"ok": False, "detail": "ConnectionError: refused"}
    assert json.loads(Path(ROOT / "docs" / "openapi.json").read_text())["paths"]["/health"]


@pytest.mark.integration
async def test_health_checks_are_shared_for_a_second(stack):
    """Many /health calls within HEALTH_TTL_S run the dependency checks once (they are rate-limited upstream)."""
    calls = []

    async def counted() -> str:
        calls.append(1)
        return "fine"

    app = create_app(stack, Deps(health={"kafka": counted}))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api") as c:
        statuses = [(await c.get("/health")).status_code for _ in range(20)]
    assert statuses == [200] * 20
    assert len(calls) == 1


@pytest.mark.integration
async def test_an_events_settlements_are_listed_by_market_line_in_pages(client, api_stack, unique):
    """GET /events/{id}/settlements: the current result or void of each market line, from the sink's items."""
    table = DynamoTable(boto_client(api_stack, "dynamodb"), api_stack.aws.dynamodb_table)
    now = int(datetime.now(UTC).timestamp())
    event_id = f"sf_{unique}"
    lines = [f"total={n}.5" for n in range(5)]
    for seq, line in enumerate(lines, 1):
        result = Settlement(kind="result", event_id=event_id, provider_event_id="sr:match:1", bookmaker="sportradar",
                            market="total", specifiers=line, provider="sportradar", seq=seq,
                            timestamp=datetime(2040, 1, 1, tzinfo=UTC),
                            outcomes=[SettledOutcome(side="over", point=float(line[6:]), result="won")])
        await table.put_if_newer(record_items(result, now_s=now, ttl_days=1).state)
    seen, cursor, pages = [], None, 0
    while True:
        response = await client.get(f"/events/{event_id}/settlements",
                                    params={"limit": 2, **({"next": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [(s["specifiers"], s["outcomes"][0]["result"]) for s in page["items"]]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == [(line, "won") for line in lines]
    assert pages == 3
    assert (await client.get(f"/events/nope-{unique}/settlements")).json() == {"items": [], "next": None}
    assert (await client.get(f"/events/{event_id}/settlements", params={"next": "%%%"})).status_code == 400
