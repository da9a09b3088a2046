"""JWT auth for the WebSocket feed: HS256 (shared secret) or RS256 (public key), per-channel scopes.

Only the algorithms a key is configured for are accepted, so `alg: none` and algorithm
confusion (an HS256 token signed with the RS256 public key) are refused.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from pipeline.settings import BroadcasterSettings
from pipeline.topics import CHANNEL_BY_TOPIC

ALL_CHANNELS = frozenset(CHANNEL_BY_TOPIC.values())


class AuthError(Exception):
    """The token is missing, malformed, expired, badly signed or lacks a scope."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Principal:
    subject: str
    channels: frozenset[str]


def verify_token(token: str | None, settings: BroadcasterSettings) -> Principal:
    if not token:
        raise AuthError("missing token")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise AuthError(f"malformed token: {exc}") from None
    algorithm = header.get("alg")
    if algorithm == "RS256" and settings.jwt_public_key:
        key: str = settings.jwt_public_key
    elif algorithm == "HS256":
        key = settings.jwt_secret.get_secret_value()
    else:
        raise AuthError(f"algorithm {algorithm!r} is not accepted")
    try:
        claims = jwt.decode(token, key, algorithms=[algorithm], options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise AuthError("token expired") from None
    except jwt.InvalidSignatureError:
        raise AuthError("bad signature") from None
    except jwt.PyJWTError as exc:
        raise AuthError(f"invalid token: {exc}") from None
    scope = claims.get("scope", "")
    requested = scope.split() if isinstance(scope, str) else list(scope)
    channels = ALL_CHANNELS if not requested or "*" in requested else frozenset(requested) & ALL_CHANNELS
    return Principal(str(claims["sub"]), frozenset(channels))


def issue_token(
    settings: BroadcasterSettings, subject: str, ttl_s: float = 86400.0, channels: list[str] | None = None
) -> str:
    """An HS256 token for demos and tests (production tokens come from the identity provider)."""
    now = int(time.time())
    claims = {"sub": subject, "iat": now, "exp": now + int(ttl_s), "scope": " ".join(channels or ["*"])}
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")
