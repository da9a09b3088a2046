"""Sentry events pass the scrubber: secrets and PII never reach the transport."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import sentry_sdk
from pydantic import SecretStr
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from runtime.observability import sentry
from runtime.observability.scrub import Scrubber, scrubber_from_settings
from runtime.observability.sentry import init_sentry
from runtime.settings import ApiSettings, BroadcasterSettings, ProviderSettings, Settings

API_KEY = "odds-key-7f3a9c2e51b84d06"
CLIENT_SECRET = "sportradar-client-secret-99"
JWT_SECRET = "jwt-signing-secret-0a1b2c3d"
INGEST_KEY = "ingest-key-5e6f7a8b9c"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkZW1vLWNsaWVudCJ9.c2lnbmF0dXJlLWJ5dGVz"
EMAIL = "jane.doe@example.com"
SECRETS = (API_KEY, CLIENT_SECRET, JWT_SECRET, INGEST_KEY, JWT, EMAIL)


class ListTransport(Transport):
    """Keeps envelopes in memory instead of sending them."""

    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)


def _settings(dsn: str | None = "https://0123456789abcdef@sentry.example.invalid/42") -> Settings:
    return Settings(
        environment="staging",
        sentry_dsn=SecretStr(dsn) if dsn else None,
        providers={"theoddsapi": ProviderSettings(api_key=SecretStr(API_KEY)),
                   "sportradar": ProviderSettings(client_id="sr-client", client_secret=SecretStr(CLIENT_SECRET))},
        broadcaster=BroadcasterSettings(jwt_secret=SecretStr(JWT_SECRET)),
        api=ApiSettings(ingest_api_key=SecretStr(INGEST_KEY)),
    )


@pytest.fixture
def transport() -> Any:
    sink = ListTransport()
    yield sink
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # back to a client without a DSN: later tests send nothing anywhere


def _fetch_odds(headers: dict[str, str]) -> None:
    url = f"https://api.the-odds-api.com/v4/sports/upcoming/odds?apiKey={API_KEY}&regions=us"
    bearer = JWT  # a local whose name says nothing: the literal value is what gets filtered
    owner = EMAIL
    sentry_sdk.add_breadcrumb(category="http", message=f"GET {url} for {owner}",
                              data={"x-api-key": API_KEY, "authorization": f"Bearer {bearer}"})
    logging.getLogger("connectors.theoddsapi").warning("retrying %s with key %s", url, API_KEY)
    raise PermissionError(f"provider refused key {API_KEY} (account {owner}, token {bearer}, headers {headers})")


def test_exception_event_arrives_without_secrets(transport: ListTransport) -> None:
    """An exception with a key, a JWT and an email in locals, message, breadcrumbs and request data is scrubbed."""
    assert init_sentry(_settings(), "connectors", transport=transport)
    with sentry_sdk.new_scope() as scope:
        scope.add_event_processor(lambda event, _hint: {**event, "request": {
            "url": "https://sportsflow.example/ingest", "method": "POST",
            "query_string": f"apiKey={API_KEY}&sport=nba",
            "headers": {"Authorization": f"Bearer {JWT}", "X-Apisports-Key": API_KEY,
                        "Ocp-Apim-Subscription-Key": API_KEY, "Content-Type": "application/json"},
            "data": {"email": EMAIL, "note": f"posted by {EMAIL}", "client_secret": CLIENT_SECRET},
        }})
        try:
            _fetch_odds({"X-Api-Key": API_KEY, "Accept": "application/json"})
        except PermissionError:
            sentry_sdk.capture_exception()
    sentry_sdk.flush()

    events = [e.get_event() for e in transport.envelopes if e.get_event() is not None]
    assert len(events) == 1
    raw = b"".join(e.serialize() for e in transport.envelopes).decode()
    for secret in SECRETS:
        assert secret not in raw
    event = events[0]
    assert event["release"] == sentry.release() == "sportsflow@0.1.0"
    assert event["environment"] == "staging"
    assert event["tags"]["component"] == "connectors"
    assert sentry_sdk.get_client().should_send_default_pii() is False
    assert event["exception"]["values"][0]["type"] == "PermissionError"
    assert "regions=us" in raw  # what is not secret survives
    assert "[Filtered]" in raw
    assert "[JWT]" in raw
    assert "[email]" in raw
    crumbs = event["breadcrumbs"]["values"]
    assert any(c.get("category") == "http" for c in crumbs)
    assert event["request"]["headers"]["Content-Type"] == "application/json"


def test_no_dsn_means_no_sentry() -> None:
    """Without SPORTSFLOW_SENTRY_DSN nothing is initialized."""
    assert init_sentry(_settings(dsn=None), "worker") is False


@pytest.mark.parametrize(("text", "leak"), [
    (f"GET /odds?regions=us&apiKey={API_KEY}", API_KEY),
    ("GET /v3/fixtures?key=abcdef123456&live=all", "abcdef123456"),
    ("wss://feed/ws?token=tok_4f5e6d7c8b9a", "tok_4f5e6d7c8b9a"),
    (f"Authorization: Bearer {JWT}", JWT),
    (f"jwt {JWT} in text", JWT),
    (f"contact {EMAIL}", EMAIL),
    ("{'api_key': 'plain-key-123456', 'feed': 'odds'}", "plain-key-123456"),
    ('{"client_secret": "cs-value-987654"}', "cs-value-987654"),
    ("x-apisports-key: as-key-000111222", "as-key-000111222"),
    ("aws key AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE"),
])
def test_scrubber_text_patterns(text: str, leak: str) -> None:
    """Keys in query strings and headers, JWTs, emails and AWS key ids are filtered from free text."""
    assert leak not in Scrubber().text(text)


def test_scrubber_settings_literals_and_fields() -> None:
    """Every SecretStr value of the settings is filtered; the local access key id 'sportsflow' is not."""
    scrub = scrubber_from_settings(_settings())
    text = f"{API_KEY} {CLIENT_SECRET} {JWT_SECRET} {INGEST_KEY} sportsflow-secret topic sportsflow.resolve"
    cleaned = scrub.text(text)
    for secret in (API_KEY, CLIENT_SECRET, JWT_SECRET, INGEST_KEY, "sportsflow-secret"):
        assert secret not in cleaned
    assert "sportsflow.resolve" in cleaned
    data = scrub.data({"Ocp-Apim-Subscription-Key": "k1", "password": "p", "dsn": "d", "key": "k",
                       "headers": [["X-Api-Key", "k2"], ["Accept", "json"]], "provider": "jolpica"})
    assert data == {"Ocp-Apim-Subscription-Key": "[Filtered]", "password": "[Filtered]", "dsn": "[Filtered]",
                    "key": "[Filtered]", "headers": [["X-Api-Key", "[Filtered]"], ["Accept", "json"]],
                    "provider": "jolpica"}
