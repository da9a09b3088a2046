"""JWT auth for the WebSocket feed: HS256 (shared secret) and/or RS256 (public key), per-channel scopes.

Each algorithm is verified only with its own key, and only if that key is configured (HS256: an
explicit `jwt_secret`, or the built-in local default while no RS256 key is set, see
`BroadcasterSettings.hs256_key`):
`alg: none`, unknown algorithms and algorithm confusion (an HS256 token whose HMAC key is the
RS256 public key) are refused. Tokens must carry `sub` and `exp`; `aud`/`iss` are checked when
configured. The `scope` claim (space-separated string or list) names the channels granted; `*`
grants all; a token without a scope grants none.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from runtime.settings import BroadcasterSettings
from schemas.errors import SportsflowError
from sinks.websocket.protocol import CHANNELS

ALL_CHANNELS = CHANNELS
MAX_EXP = 32_503_680_000.0  # year 3000: beyond it a token is a mistake or an attack


class AuthError(SportsflowError):
    """The token is missing, malformed, expired or badly signed (close code 4401, `reason`)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Principal:
    subject: str
    channels: frozenset[str]
    expires_at: float | None = None  # epoch seconds


def _key_for(algorithm: object, settings: BroadcasterSettings) -> str:
    if algorithm == "RS256" and settings.jwt_public_key:
        return settings.jwt_public_key
    hs256 = settings.hs256_key()
    if algorithm == "HS256" and hs256 is not None:
        return hs256
    raise AuthError(f"algorithm {algorithm!r} is not accepted")


def verify_token(token: str | None, settings: BroadcasterSettings) -> Principal:
    if not token:
        raise AuthError("missing token")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise AuthError("malformed token") from None
    algorithm = header.get("alg")
    key = _key_for(algorithm, settings)
    try:
        claims = jwt.decode(
            token, key, algorithms=[str(algorithm)], audience=settings.jwt_audience, issuer=settings.jwt_issuer,
            leeway=settings.jwt_leeway_s, options={"require": ["exp", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("token expired") from None
    except jwt.InvalidSignatureError:
        raise AuthError("bad signature") from None
    except jwt.PyJWTError as exc:
        raise AuthError(f"invalid token: {exc}"[:100]) from None
    except (TypeError, ValueError, OverflowError):  # claims of types PyJWT does not expect (a signed token)
        raise AuthError("invalid token: malformed claims") from None
    scope = claims.get("scope", "")
    if isinstance(scope, str):
        requested = scope.split()
    elif isinstance(scope, list):
        requested = [s for s in scope if isinstance(s, str)]
    else:
        raise AuthError("invalid token: scope must be a string or a list")
    channels = ALL_CHANNELS if "*" in requested else frozenset(requested) & ALL_CHANNELS
    return Principal(str(claims["sub"]), frozenset(channels), _expiry(claims["exp"]))


def _expiry(exp: object) -> float:
    """`exp` as epoch seconds. PyJWT accepts any value `int()` takes (a numeric string too): this one
    must expire the live connection just the same, and an absurd one is refused, not a crash."""
    try:
        value = float(int(exp))  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        raise AuthError("invalid token: exp must be a number") from None
    if not 0 < value < MAX_EXP:
        raise AuthError("invalid token: exp out of range")
    return value


def issue_token(
    settings: BroadcasterSettings, subject: str, ttl_s: float = 86400.0, channels: list[str] | None = None
) -> str:
    """An HS256 token for demos and tests (production tokens come from the identity provider)."""
    key = settings.hs256_key()
    if key is None:
        raise AuthError("no HS256 secret configured")
    now = int(time.time())
    claims: dict[str, object] = {"sub": subject, "iat": now, "exp": now + int(ttl_s),
                                 "scope": " ".join(channels or ["*"])}
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    return jwt.encode(claims, key, algorithm="HS256")
