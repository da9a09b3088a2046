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
from collections.abc import AsyncIterator

from runtime.observability import emf
from runtime.observability import prometheus as metrics
from runtime.observability.logs import setup_logging
from runtime.observability.scrub import (
    _scrubber,
    _secret_values,
)
from runtime.observability.sentry import init_sentry
from runtime.settings import Settings, refusals
from schemas.errors import ConfigurationError

# --- Sentry ----------------------------------------------------------------------------------


def setup_process(settings: Settings, component: str, *, sentry: bool = True) -> None:
    """Scrubber, logging and (unless `sentry=False`) Sentry for one long-running command.

    Raises ConfigurationError, before anything starts, when the settings must not run (`refusals`).
    """

    problems = refusals(settings, component)
    if problems:
        raise ConfigurationError(f"{component} refuses to start in {settings.environment}: " + "; ".join(problems))
    _scrubber.add(*_secret_values(settings, ""))
    setup_logging(settings.log_level, json_lines=settings.environment != "local",
                  component=component, environment=settings.environment)
    if sentry:
        init_sentry(settings, component)


# --- metric hooks ----------------------------------------------------------------------------


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
