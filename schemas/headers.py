"""Kafka header names. Per-stage timestamps split latency into the provider's share and ours."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Final

PROVIDER: Final = "sf-provider"
FEED: Final = "sf-feed"
PARAMS: Final = "sf-params"
RECORD_ID: Final = "sf-record-id"
APP: Final = "sf-app"  # the worker app id that published a canonical record (several apps may share a cluster)
# Stage timestamps, epoch milliseconds as ASCII digits.
PROVIDER_TS: Final = "sf-ts-provider"  # the provider's own update time, when it states one
RECEIVED_TS: Final = "sf-ts-received"  # the connector had the provider's response
NORMALIZED_TS: Final = "sf-ts-normalized"  # the worker produced the canonical record
PUBLISHED_TS: Final = "sf-ts-published"  # handed to the producer for the canonical topic


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def as_dict(headers: Iterable[tuple[str, bytes]] | Mapping[str, bytes] | None) -> dict[str, bytes]:
    if headers is None:
        return {}
    if isinstance(headers, Mapping):
        return dict(headers)
    return dict(headers)


def ms(value: int) -> bytes:
    return str(value).encode()
