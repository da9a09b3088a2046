"""aiokafka client options for the configured security mode (local plaintext, TLS, or MSK IAM)."""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

from aiokafka.abc import AbstractTokenProvider
from aws_msk_iam_sasl_signer import MSKAuthTokenProvider

from runtime.settings import Settings

# region -> (token, expiry in epoch milliseconds): the shape of MSKAuthTokenProvider.generate_auth_token.
Signer = Callable[[str], tuple[str, int]]


def msk_signer(region: str) -> tuple[str, int]:
    """Sign an MSK IAM auth token with the default AWS credential chain (blocking: call in a thread)."""

    token, expiry_ms = MSKAuthTokenProvider.generate_auth_token(region)
    return str(token), int(expiry_ms)


class MskIamTokenProvider(AbstractTokenProvider):  # type: ignore[misc]
    """SASL/OAUTHBEARER tokens for Amazon MSK IAM auth, signed with the task's AWS credentials.

    A token is reused until `refresh_margin_s` before it expires (aiokafka asks on every new
    connection; signing resolves credentials, which on ECS is an HTTP call). Safe to share between
    event loops (Faust's consumer runs in its own thread): the cache is guarded by a thread lock that
    is never held across an await, so two loops may at worst both sign once. Cancel-safe.
    """

    def __init__(self, region: str, *, signer: Signer = msk_signer, refresh_margin_s: float = 60.0,
                 timeout_s: float = 10.0, clock: Callable[[], float] = time.time) -> None:
        self._region = region
        self._signer = signer
        self._margin_ms = refresh_margin_s * 1000
        self._timeout_s = timeout_s
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[str, int] | None = None

    async def token(self) -> str:
        with self._lock:
            cached = self._cached
        if cached is not None and self._clock() * 1000 < cached[1] - self._margin_ms:
            return cached[0]
        async with asyncio.timeout(self._timeout_s):
            fresh = await asyncio.to_thread(self._signer, self._region)
        with self._lock:
            self._cached = fresh
        return fresh[0]

    def extensions(self) -> dict[str, str]:
        """MSK IAM needs no SASL extensions (the signed URL in the token carries everything)."""
        return {}


def client_options(settings: Settings, *, signer: Signer = msk_signer) -> dict[str, Any]:
    """Keyword arguments shared by every aiokafka producer, consumer and admin client."""
    options: dict[str, Any] = {"bootstrap_servers": settings.kafka.bootstrap_servers}
    mode = settings.kafka.security
    if mode == "plaintext":
        return options
    options["ssl_context"] = ssl.create_default_context()
    if mode == "tls":
        options["security_protocol"] = "SSL"
        return options
    options.update(security_protocol="SASL_SSL", sasl_mechanism="OAUTHBEARER",
                   sasl_oauth_token_provider=MskIamTokenProvider(settings.aws.region, signer=signer))
    return options


async def partitions_of(consumer: Any, topic: str, *, timeout_s: float = 10.0) -> set[int]:
    """Partition ids of `topic` for a groupless consumer: its metadata, else a fresh metadata fetch.

    Raises LookupError if the cluster does not know the topic: reading only some partitions of a
    topic would silently miss records.
    """
    ids = consumer.partitions_for_topic(topic)
    if ids:
        return set(ids)
    async with asyncio.timeout(timeout_s):
        # aiokafka has no public "fetch metadata for this topic" on the consumer; topics() discards it.
        cluster = await consumer._client.fetch_all_metadata()
    found = cluster.partitions_for_topic(topic)
    if not found:
        raise LookupError(f"topic {topic!r} does not exist")
    return set(found)
