"""Sentry for the long-running processes: a release per package version, every event scrubbed last."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import sentry_sdk

from runtime.observability.scrub import (
    _scrubber,
    _secret_values,
)
from runtime.settings import Settings


def release() -> str:
    try:
        return f"sportsflow@{importlib.metadata.version('sportsflow')}"
    except importlib.metadata.PackageNotFoundError:
        return "sportsflow@0+unknown"


def init_sentry(settings: Settings, component: str, *, transport: Any = None) -> bool:
    """Start Sentry for `component` if a DSN is configured; False (nothing done) otherwise.

    Events and breadcrumbs pass the scrubber last, after Sentry serialized them, so secrets in
    locals, messages, request data and breadcrumbs are filtered whatever produced them.
    `transport`: a `sentry_sdk.transport.Transport` instance (tests); default: Sentry's HTTP one.
    """
    if settings.sentry_dsn is None or not settings.sentry_dsn.get_secret_value():
        return False

    scrub = _scrubber
    scrub.add(*_secret_values(settings, ""))

    def before_send(event: Any, _hint: Any) -> Any:
        return scrub.data(event)

    def before_breadcrumb(crumb: Any, _hint: Any) -> Any:
        return scrub.data(crumb)

    # PII stays off: `send_default_pii` is left unset because sentry-sdk 2.x deprecates it (a
    # DeprecationWarning) and its default already means "no PII"; setting `data_collection` instead
    # would switch off Sentry's own EventScrubber, our first layer.
    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(), release=release(), environment=settings.environment,
        before_send=before_send, before_breadcrumb=before_breadcrumb, transport=transport, max_breadcrumbs=50,
    )
    sentry_sdk.set_tag("component", component)
    return True
