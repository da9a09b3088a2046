"""JWT verification: HS256, RS256, expiry, signatures, `alg: none`, algorithm confusion, scopes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from runtime.settings import LOCAL_JWT_SECRET, BroadcasterSettings, Settings, refusals
from sinks.websocket.auth import ALL_CHANNELS, AuthError, issue_token, verify_token

OWN_SECRET = "an-explicit-hs256-secret-of-at-least-32-bytes"


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def claims(**extra) -> dict:
    return {"sub": "client-1", "exp": int(time.time()) + 60, **extra}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_hs256_token_with_scopes():
    """A valid HS256 token grants the channels in its scope."""
    settings = BroadcasterSettings()
    principal = verify_token(issue_token(settings, "me", channels=["live_scores", "betting_odds"]), settings)
    assert principal.subject == "me"
    assert principal.channels == {"live_scores", "betting_odds"}
    assert principal.expires_at is not None
    assert principal.expires_at > time.time()


def test_star_scope_grants_every_channel_and_no_scope_grants_none():
    """`*` grants all channels; a token without a scope grants none; unknown scopes are ignored."""
    settings = BroadcasterSettings()
    secret = settings.jwt_secret.get_secret_value()
    assert verify_token(jwt.encode(claims(scope="*"), secret, algorithm="HS256"), settings).channels == ALL_CHANNELS
    assert verify_token(jwt.encode(claims(), secret, algorithm="HS256"), settings).channels == frozenset()
    listed = jwt.encode(claims(scope=["race_results", "admin"]), secret, algorithm="HS256")
    assert verify_token(listed, settings).channels == {"race_results"}


def test_rs256_token(rsa_keys):
    """An RS256 token verifies with the configured public key."""
    private, public = rsa_keys
    settings = BroadcasterSettings(jwt_public_key=public)
    token = jwt.encode(claims(scope="live_scores"), private, algorithm="RS256")
    assert verify_token(token, settings).channels == {"live_scores"}


def test_rs256_refused_without_a_public_key(rsa_keys):
    """RS256 is not accepted unless a public key is configured."""
    private, _public = rsa_keys
    with pytest.raises(AuthError, match="not accepted"):
        verify_token(jwt.encode(claims(), private, algorithm="RS256"), BroadcasterSettings())


def test_missing_token():
    """No token at all is refused."""
    with pytest.raises(AuthError, match="missing token"):
        verify_token(None, BroadcasterSettings())
    with pytest.raises(AuthError, match="missing token"):
        verify_token("", BroadcasterSettings())


def test_expired_token():
    """An expired token is refused as expired (beyond the leeway)."""
    settings = BroadcasterSettings()
    token = issue_token(settings, "me", ttl_s=-60)
    with pytest.raises(AuthError, match="expired"):
        verify_token(token, settings)


def test_bad_signature():
    """A token signed with another secret is refused."""
    token = jwt.encode(claims(), "another-secret-that-is-long-enough-for-hs256", algorithm="HS256")
    with pytest.raises(AuthError, match="bad signature"):
        verify_token(token, BroadcasterSettings())


def test_alg_none_is_refused():
    """An unsigned token (`alg: none`) is refused."""
    token = jwt.encode(claims(scope="*"), None, algorithm="none")
    with pytest.raises(AuthError, match="'none' is not accepted"):
        verify_token(token, BroadcasterSettings())


def test_algorithm_confusion_is_refused(rsa_keys):
    """An HS256 token whose HMAC key is the RS256 public key does not verify."""
    _private, public = rsa_keys
    settings = BroadcasterSettings(jwt_public_key=public, jwt_secret=SecretStr(OWN_SECRET))
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims(scope="*")).encode())
    signature = hmac.new(public.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    with pytest.raises(AuthError, match="bad signature"):
        verify_token(f"{header}.{payload}.{b64(signature)}", settings)
    only_rs = BroadcasterSettings(jwt_public_key=public, jwt_secret=None)
    with pytest.raises(AuthError, match="not accepted"):
        verify_token(f"{header}.{payload}.{b64(signature)}", only_rs)


def test_malformed_token_and_required_claims():
    """Garbage is malformed; a token without `exp` or `sub` is invalid."""
    settings = BroadcasterSettings()
    with pytest.raises(AuthError, match="malformed"):
        verify_token("not-a-jwt", settings)
    secret = settings.jwt_secret.get_secret_value()
    with pytest.raises(AuthError, match="invalid token"):
        verify_token(jwt.encode({"sub": "x"}, secret, algorithm="HS256"), settings)


def test_audience_and_issuer_when_configured():
    """With aud/iss configured, tokens for another audience are refused."""
    settings = BroadcasterSettings(jwt_audience="sportsflow-feed", jwt_issuer="https://id.example")
    assert verify_token(issue_token(settings, "me"), settings).subject == "me"
    other = jwt.encode(claims(aud="other", iss="https://id.example"), settings.jwt_secret.get_secret_value(),
                       algorithm="HS256")
    with pytest.raises(AuthError, match="invalid token"):
        verify_token(other, settings)


def test_setting_only_an_rs256_key_turns_the_default_hs256_secret_off(rsa_keys):
    """With only jwt_public_key configured, an HS256 token signed with the published default is refused;
    an explicitly configured secret keeps HS256 on next to RS256."""
    _private, public = rsa_keys
    forged = jwt.encode(claims(scope="*"), LOCAL_JWT_SECRET, algorithm="HS256")
    with pytest.raises(AuthError, match="not accepted"):
        verify_token(forged, BroadcasterSettings(jwt_public_key=public))
    both = BroadcasterSettings(jwt_public_key=public, jwt_secret=SecretStr(OWN_SECRET))
    assert verify_token(jwt.encode(claims(scope="*"), OWN_SECRET, algorithm="HS256"),
                        both).channels == ALL_CHANNELS
    with pytest.raises(AuthError, match="bad signature"):
        verify_token(forged, both)


def test_default_secrets_are_refused_outside_local(rsa_keys):
    """In prod the broadcaster refuses the default JWT secret and the API the default ingest key; their own
    secrets, or RS256 only, pass; local accepts the defaults."""
    _private, public = rsa_keys
    prod = Settings(environment="prod")
    assert refusals(prod, "broadcaster")
    assert "JWT_SECRET" in refusals(prod, "broadcaster")[0]
    assert refusals(prod, "api")
    assert "INGEST_API_KEY" in refusals(prod, "api")[0]
    assert refusals(prod, "worker") == []
    assert refusals(Settings(environment="local"), "broadcaster") == []
    own = Settings(environment="prod", broadcaster={"jwt_secret": OWN_SECRET}, api={"ingest_api_key": ""})
    assert refusals(own, "broadcaster") == []
    assert refusals(own, "api") == []
    assert refusals(Settings(environment="prod", broadcaster={"jwt_public_key": public}), "broadcaster") == []
    explicit_default = Settings(environment="staging", broadcaster={"jwt_public_key": public,
                                                                    "jwt_secret": LOCAL_JWT_SECRET})
    assert refusals(explicit_default, "broadcaster")


def signed(claims_: dict, secret: str = LOCAL_JWT_SECRET) -> str:
    """An HS256 token built by hand: PyJWT would refuse to encode some of these claims."""
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims_).encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


def test_a_string_exp_still_expires():
    """`exp: "<digits>"` (PyJWT accepts it) gives the principal an expiry, so a live connection is closed."""
    exp = int(time.time()) + 60
    principal = verify_token(signed({"sub": "s", "exp": str(exp), "scope": "*"}), BroadcasterSettings())
    assert principal.expires_at == exp


@pytest.mark.parametrize("claims_", [
    {"sub": "s", "exp": 4_000_000_000, "scope": 123},
    {"sub": "s", "exp": 4_000_000_000, "scope": {"a": 1}},
    {"sub": "s", "exp": 10**400, "scope": "*"},
    {"sub": "s", "exp": 1e308, "scope": "*"},
    {"sub": "s", "exp": "soon", "scope": "*"},
])
def test_signed_tokens_with_absurd_claims_are_refused_not_crashes(claims_):
    """Validly signed tokens with claims of the wrong type or range are an AuthError (4401), never a crash."""
    with pytest.raises(AuthError, match="invalid token"):
        verify_token(signed(claims_), BroadcasterSettings())
