"""Default secrets, HS256 next to RS256, and ingest keys, against the running processes."""

from __future__ import annotations

import subprocess

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from runtime.settings import LOCAL_JWT_SECRET
from tests.abuse.procs import ODDS_ONLY_KEY, Proc, answers, broadcaster_env, start, stop
from tests.conftest import wait_for
from tests.integration.test_odds_flow import odds_payload

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("command", "setting"), [
    (["broadcast"], "SPORTSFLOW_BROADCASTER__JWT_SECRET"),
    (["api"], "SPORTSFLOW_API__INGEST_API_KEY"),
])
def test_default_secrets_refused_in_prod(command: list[str], setting: str) -> None:
    """`sportsflow broadcast` and `sportsflow api` in prod with the published defaults exit at once, naming
    the setting, without serving anything."""
    proc = start(command, {"SPORTSFLOW_ENVIRONMENT": "prod", "SPORTSFLOW_BROADCASTER__PORT": "{port}",
                           "SPORTSFLOW_API__PORT": "{port}", "SPORTSFLOW_SENTRY_DSN": ""}, "prod-defaults")
    try:
        code = proc.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        stop(proc)
        pytest.fail(f"{command} started in prod with a default secret")
    assert code != 0
    assert setting in proc.log()
    assert "refuses to start in prod" in proc.log()


async def test_rs256_only_broadcaster_refuses_hs256_signed_with_the_default(canonical_prefix: str) -> None:
    """A broadcaster given only an RS256 public key closes (4401) a `scope: *` HS256 token signed with the
    published default secret, and accepts an RS256 token."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    proc = start(["broadcast"], broadcaster_env(canonical_prefix, jwt_public_key=public), "broadcast-rs256")
    try:
        wait_for(lambda: answers(f"{proc.url}/health", proc), timeout=90, message="the broadcaster to answer")
        claims = {"sub": "forger", "exp": 4_000_000_000, "scope": "*"}
        forged = jwt.encode(claims, LOCAL_JWT_SECRET, algorithm="HS256")
        async with connect(f"ws://127.0.0.1:{proc.port}/ws?token={forged}") as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd.code == 4401
        signed = jwt.encode({**claims, "sub": "rs256-client"}, key, algorithm="RS256")
        async with connect(f"ws://127.0.0.1:{proc.port}/ws?token={signed}") as ws:
            await ws.send('{"action":"ping"}')
            assert '"pong"' in await ws.recv()
    finally:
        stop(proc)


def test_an_ingest_key_speaks_only_for_its_providers(api_proc: Proc, unique: str) -> None:
    """A key that names theoddsapi cannot post a Sportradar payload (403, nothing published); it can post
    for theoddsapi."""
    body = {"provider": "sportradar", "feed": "soccer_summary", "payload": {"sport_event": {"id": unique}}}
    refused = httpx.post(f"{api_proc.url}/ingest", json=body, headers={"X-API-Key": ODDS_ONLY_KEY}, timeout=15)
    assert refused.status_code == 403, refused.text
    assert refused.json() == {"error": "key not valid for this provider", "detail": {"provider": "sportradar"}}
    odds = {"provider": "theoddsapi", "feed": "odds", "params": {"oddsFormat": "american"},
            "payload": odds_payload(unique)}
    accepted = httpx.post(f"{api_proc.url}/ingest", json=odds, headers={"X-API-Key": ODDS_ONLY_KEY}, timeout=15)
    assert accepted.status_code == 202, accepted.text
