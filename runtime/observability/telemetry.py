"""Sentry, the secret scrubber (shared by Sentry and the logs), metric hooks and per-process telemetry.

Process set-up, once per long-running command (`setup_process`): scrubber with the settings'
secret values -> logging (JSON outside `local`) -> Sentry (if a DSN is set). Then `telemetry()`
serves Prometheus `/metrics` and flushes EMF lines for the component's lifetime.

Hooks (cheap, no I/O): `observe_canonical`, `observe_broadcast`, `observe_processed`, `observe_fetch`,
`observe_feed`, `observe_consumer_lag`, `observe_sink`, `observe_ws_opened`, `observe_ws_closed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import Any, Final

from pydantic import BaseModel, SecretStr

from runtime.observability import emf
from runtime.observability import prometheus as metrics
from runtime.observability.scrub import Scrubber
from runtime.settings import Settings, refusals
from schemas import headers as h
from schemas.errors import ConfigurationError

# An access key id is an identifier, not a secret (AWS documents it so); its local default is
# "sportsflow", which would otherwise be filtered out of every logger and topic name.
_NOT_SECRET: Final = frozenset({"aws.access_key_id"})


def scrubber_from_settings(settings: Settings) -> Scrubber:
    return Scrubber(_secret_values(settings, ""))


def _secret_values(model: Any, path: str) -> Iterator[str]:
    if isinstance(model, SecretStr):
        if path not in _NOT_SECRET:
            yield model.get_secret_value()
    elif isinstance(model, BaseModel):
        for name in type(model).model_fields:
            yield from _secret_values(getattr(model, name), f"{path}.{name}".lstrip("."))
    elif isinstance(model, Mapping):
        for name, item in model.items():
            yield from _secret_values(item, f"{path}.{name}")
    elif isinstance(model, list | tuple):
        for item in model:
            yield from _secret_values(item, path)


_scrubber = Scrubber()


def scrubber() -> Scrubber:
    """The process's scrubber (patterns only until `setup_process` adds the settings' secrets)."""
    return _scrubber


def register_secrets(*values: str) -> None:
    """Secrets learned at run time (Secrets Manager) are filtered from logs and Sentry from now on."""
    _scrubber.add(*values)


# --- Sentry ----------------------------------------------------------------------------------

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
    import sentry_sdk

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


def setup_process(settings: Settings, component: str, *, sentry: bool = True) -> None:
    """Scrubber, logging and (unless `sentry=False`) Sentry for one long-running command.

    Raises ConfigurationError, before anything starts, when the settings must not run (`refusals`).
    """
    from runtime.observability.logs import setup_logging

    problems = refusals(settings, component)
    if problems:
        raise ConfigurationError(f"{component} refuses to start in {settings.environment}: " + "; ".join(problems))
    _scrubber.add(*_secret_values(settings, ""))
    setup_logging(settings.log_level, json_lines=settings.environment != "local",
                  component=component, environment=settings.environment)
    if sentry:
        init_sentry(settings, component)


# --- metric hooks ----------------------------------------------------------------------------

def _ms(headers: Mapping[str, bytes], name: str) -> int | None:
    raw = headers.get(name)
    try:
        return int(raw) if raw else None
    except ValueError:
        return None


def observe_canonical(headers: Iterable[tuple[str, bytes]] | Mapping[str, bytes], provider: str | None = None) -> None:
    """One canonical record published: per-stage latency from its sf-ts-* headers, and throughput."""
    stamps = h.as_dict(headers)
    name = provider or (stamps.get(h.PROVIDER) or b"unknown").decode("utf-8", "replace")
    provider_ts, received, normalized, published = (
        _ms(stamps, k) for k in (h.PROVIDER_TS, h.RECEIVED_TS, h.NORMALIZED_TS, h.PUBLISHED_TS))
    spans: tuple[tuple[emf.Stage, int | None, int | None], ...] = (
        ("provider_share", provider_ts, received), ("normalize", received, normalized),
        ("publish", normalized, published), ("end_to_end", received, published),
    )
    for stage, start, end in spans:
        if start is not None and end is not None:
            emf.record_latency(name, stage, end - start)
            metrics.LATENCY.labels(stage=stage).observe(max(end - start, 0) / 1000)
    emf.record_records(name, "published")
    metrics.RECORDS.labels(stage="published", outcome="ok").inc()


def observe_broadcast(headers: Iterable[tuple[str, bytes]] | None, received_ms: int, sent_ms: int) -> None:
    """A broadcaster read a canonical record at `received_ms` and fanned it out at `sent_ms`."""
    stamps = h.as_dict(headers)
    name = (stamps.get(h.PROVIDER) or b"unknown").decode("utf-8", "replace")
    published, connector = _ms(stamps, h.PUBLISHED_TS), _ms(stamps, h.RECEIVED_TS)
    spans: tuple[tuple[emf.Stage, int | None, int], ...] = (
        ("broadcast", published, received_ms), ("fan_out", received_ms, sent_ms), ("to_frame", connector, sent_ms))
    for stage, start, end in spans:
        if start is not None:
            emf.record_latency(name, stage, end - start)
            metrics.LATENCY.labels(stage=stage).observe(max(end - start, 0) / 1000)


# provider -> [raw records, dead letters] since start: the dead-letter share gauge per provider.
_DEAD_LETTER_COUNTS: dict[str, list[int]] = {}


def observe_processed(provider: str, *, dead_letter: bool) -> None:
    """One record processed by the worker; `dead_letter`: it failed and went to the dead-letter topic."""
    emf.record_processed(failed=dead_letter)
    emf.record_records(provider, "dead_letter" if dead_letter else "normalized")
    metrics.RECORDS.labels(stage="normalized", outcome="dead_letter" if dead_letter else "ok").inc()
    metrics.RAW_RECORDS.labels(provider=provider).inc()
    counts = _DEAD_LETTER_COUNTS.setdefault(provider, [0, 0])
    counts[0] += 1
    if dead_letter:
        counts[1] += 1
        metrics.DEAD_LETTERS.labels(provider=provider).inc()
    metrics.DEAD_LETTER_SHARE.labels(provider=provider).set(counts[1] / counts[0])


def observe_fetch(provider: str, *, ok: bool) -> None:
    """One provider fetch (connectors) or /ingest post (api, provider `ingest`)."""
    emf.record_ingestion(failed=not ok)
    emf.record_records(provider, "received" if ok else "fetch_failed")
    metrics.INGESTION.labels(provider=provider, outcome="ok" if ok else "failed").inc()


def observe_poll_interval(provider: str, feed: str, interval_s: float, quota_remaining: int | None) -> None:
    """A polled feed's effective interval (quota pacing included) and its credential's remaining quota."""
    metrics.POLL_INTERVAL.labels(provider=provider, feed=feed).set(interval_s)
    if quota_remaining is not None:
        metrics.QUOTA_REMAINING.labels(provider=provider).set(quota_remaining)


def observe_feed(provider: str, feed: str, *, up: bool) -> None:
    emf.set_feed_up(provider, feed, up)
    metrics.FEED_UP.labels(provider=provider, feed=feed).set(1 if up else 0)


def observe_consumer_lag(messages: int) -> None:
    emf.set_consumer_lag(messages)
    metrics.CONSUMER_LAG.set(messages)


def observe_sink(group: str, *, consumed: int, lag: int | None) -> None:
    """The DynamoDB sink or the archive (consumer group `group`) accepted `consumed` records and is
    `lag` messages behind. Prometheus only: on AWS their scaling reads MSK's SumOffsetLag."""
    if consumed:
        metrics.SINK_CONSUMED.labels(group=group).inc(consumed)
    if lag is not None:
        metrics.SINK_LAG.labels(group=group).set(lag)


def observe_ws_opened() -> None:
    emf.record_ws_opened()
    metrics.WS_CLIENTS.inc()


def observe_ws_closed(*, abnormal: bool) -> None:
    emf.record_ws_closed(abnormal=abnormal)
    metrics.WS_CLIENTS.dec()
    if abnormal:
        metrics.WS_DROPS.inc()


# --- per-process telemetry -------------------------------------------------------------------

def metrics_port(settings: Settings, component: str) -> int | None:
    ports = {"worker": settings.metrics.port_worker, "connectors": settings.metrics.port_connectors,
             "broadcaster": settings.metrics.port_broadcaster, "api": settings.metrics.port_api,
             "sink": settings.metrics.port_sink, "archive": settings.metrics.port_archive}
    return ports.get(component)


@contextlib.asynccontextmanager
async def telemetry(settings: Settings, component: str) -> AsyncIterator[None]:
    """Prometheus `/metrics` and the EMF flusher for the body's lifetime; the last EMF flush runs on exit."""
    conf = settings.metrics
    port = metrics_port(settings, component)
    host = "127.0.0.1" if settings.environment == "local" else "0.0.0.0"
    server = metrics.serve(port, host) if conf.prometheus_enabled and port is not None else None
    emf_on = conf.emf_enabled if conf.emf_enabled is not None else settings.environment != "local"
    flusher: asyncio.Task[None] | None = None
    if emf_on:
        emf.DEFAULT.set_properties(component=component, environment=settings.environment)
        emf.DEFAULT.enabled = True
        flusher = asyncio.create_task(emf.EmfFlusher(emf.DEFAULT, conf.emf_interval_s).run(), name="emf-flusher")
    try:
        yield
    finally:
        if flusher is not None:
            flusher.cancel()
            await asyncio.gather(flusher, return_exceptions=True)  # its final flush; our own cancel propagates
        if server is not None:
            server.close()


async def run_telemetry(settings: Settings, component: str) -> None:
    """`telemetry()` until cancelled: for a Faust `@app.task` in the worker."""
    async with telemetry(settings, component):
        await asyncio.Event().wait()
