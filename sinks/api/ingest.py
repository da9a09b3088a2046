"""POST /ingest without the web framework: keys and what they grant, the body's limits, the envelope.

A key (`api.ingest_api_key`: every provider; `api.ingest_keys`: the providers it names) is
checked before the body is parsed. The body is bounded three ways: `api.max_body_bytes` read at
most, `MAX_JSON_DEPTH` levels of nesting, and an envelope that fits one Kafka record
(`MAX_RECORD_BYTES`). Every refusal is an `ApiError` (status, `error`, `detail`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from typing import Any

import orjson
from aiokafka.errors import KafkaError
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from connectors.publisher import RawPublisher
from runtime.settings import Settings
from schemas.envelope import RawEnvelope, content_hash
from schemas.errors import NormalizationError, UnknownFeedError
from schemas.providers import get_feed, normalize
from sinks.api.models import IngestAccepted, IngestRequest

# orjson writes at most 254 levels; the envelope adds two. Provider payloads nest ~10 deep.
MAX_JSON_DEPTH = 128
# Kafka's default largest record (message.max.bytes, the producer's max_request_size) is 1 MiB:
# what is left of it after the record's headers and framing.
MAX_RECORD_BYTES = 1_000_000


class ApiError(HTTPException):
    """An error answer: status, a short `error` and a `detail` with context."""

    def __init__(self, status: int, error: str, detail: Any = None) -> None:
        super().__init__(status, error)
        self.error = error
        self.extra = detail


def ingest_keys(settings: Settings) -> list[tuple[bytes, frozenset[str]]]:
    """Every configured /ingest key with the providers it may post for (`*`: any)."""
    keys = [(k.key.get_secret_value().encode(), frozenset(k.providers)) for k in settings.api.ingest_keys]
    if settings.api.ingest_api_key is not None:
        keys.append((settings.api.ingest_api_key.get_secret_value().encode(), frozenset({"*"})))
    return [(key, providers) for key, providers in keys if key]


def verify_ingest_auth(settings: Settings, headers: Any, body: bytes) -> frozenset[str]:
    """`X-API-Key: <key>` or `X-Signature: sha256=<hex HMAC-SHA256 of the body with the key>`.

    Returns the providers the matching key may post for (`*`: any); raises 401 when no key matches.
    """
    keys = ingest_keys(settings)
    given = headers.get("x-api-key")
    if given is not None:
        for key, providers in keys:
            if hmac.compare_digest(given.encode(), key):
                return providers
    signature = headers.get("x-signature")
    if signature is not None:
        signed = signature.strip().lower().encode()
        for key, providers in keys:
            if hmac.compare_digest(signed, ("sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()).encode()):
                return providers
        raise ApiError(401, "unauthorized", "X-Signature does not match the body")
    raise ApiError(401, "unauthorized", "send X-API-Key or X-Signature: sha256=<hex HMAC of the body>")


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing (413) more than `limit` bytes before reading them all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "body too large", {"maxBytes": limit})
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body too large", {"maxBytes": limit})
        chunks.append(chunk)
    return b"".join(chunks)


def build_envelope(body: IngestRequest) -> RawEnvelope:
    """Validate the payload by normalizing it; the envelope is what the worker will normalize again."""
    feed = get_feed(body.provider, body.feed)
    if feed.content_type == "xml" and not isinstance(body.payload, str):
        raise NormalizationError(body.provider, body.feed, "XML feeds take the document as a JSON string")
    probe = RawEnvelope(provider=body.provider, feed=body.feed, key=body.key or "-", params=body.params,
                        content_type="xml" if feed.content_type == "xml" else "json", payload=body.payload)
    records = normalize(probe.provider, probe.feed, probe.payload, probe.normalizer_params())
    # The Kafka key orders one entity's updates: the provider's id of the first record, when it has one.
    key = body.key or next((str(getattr(r, "provider_event_id", "")) for r in records
                            if getattr(r, "provider_event_id", None)), content_hash(body.payload))
    return probe.model_copy(update={"key": key})


async def accept(raw: bytes, publisher: RawPublisher | None, allowed: frozenset[str]) -> IngestAccepted:
    """Parse, validate, normalize-check and publish one /ingest body (ApiError when refused);
    `allowed`: the providers the request's key may post for."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "malformed JSON", str(exc)) from exc
    if json_depth(data, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise ApiError(400, "JSON nested too deeply", {"maxDepth": MAX_JSON_DEPTH})
    try:
        body = IngestRequest.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, "invalid request", validation_errors(exc)) from exc
    if "*" not in allowed and body.provider not in allowed:
        raise ApiError(403, "key not valid for this provider", {"provider": body.provider})
    try:
        envelope = build_envelope(body)
    except UnknownFeedError as exc:
        raise ApiError(404, "unknown provider or feed", exc.as_dict()) from exc
    except NormalizationError as exc:
        raise ApiError(422, "payload rejected by the normalizer", exc.as_dict()) from exc
    size = len(envelope.to_json()) + len(envelope.key.encode())
    if size > MAX_RECORD_BYTES:  # the body fit, the envelope around it would not fit in a Kafka record
        raise ApiError(413, "payload too large for one Kafka record", {"maxBytes": MAX_RECORD_BYTES, "bytes": size})
    assert publisher is not None
    await publish(publisher, envelope)
    return IngestAccepted(id=envelope.id)


def json_depth(value: Any, limit: int) -> int:
    """How deeply `value` nests (a scalar: 0), counting no further than `limit + 1`; iterative."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth > limit:
                return depth
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def validation_errors(exc: ValidationError | RequestValidationError) -> list[dict[str, Any]]:
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()]


async def publish(publisher: RawPublisher, envelope: RawEnvelope) -> None:

    try:
        async with asyncio.timeout(10):
            await publisher.publish([envelope])
    except (KafkaError, TimeoutError) as exc:
        raise ApiError(503, "Kafka unavailable", f"{type(exc).__name__}: {exc}") from exc
