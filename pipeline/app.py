"""The Faust app: `faust -A pipeline.app worker -l info` (or `sportsflow worker`).

Two stages, each a thin agent around a pure function:

    raw.<provider> --normalize_raw--> <app id>.resolve (keyed by fixture) --resolve_and_order--> canonical.*
                        |                                                        |
                        +--> deadletter                         tables: fixtures, entities (changelog-backed)

Importing this module builds no connections and reads no environment: the broker and other
settings are applied when Faust finalizes the app (`on_configured`).

Acknowledgement: Faust acks a record in a `finally:`, even when the agent body raised. So no
exception may escape a body: per-record failures become dead letters, and a failure to publish
(Kafka unreachable past the producer's own retries) stops the worker *before* the record is acked
(`agents.guard.fatal`), so it is processed again after the restart (at-least-once; outputs are
idempotent by entity key + seq).
"""

from __future__ import annotations

from typing import Any

import faust

from agents.worker import install
from pipeline.faust_config import apply_settings
from pipeline.replay.cli import register_faust_command
from runtime.settings import get_settings

app = faust.App(
    "sportsflow",
    autodiscover=False,
    value_serializer="raw",
    key_serializer="raw",
    processing_guarantee="at_least_once",
)


@app.on_configured.connect
def _configure(sender: Any, /, *args: Any, signal: Any, **_: Any) -> None:
    apply_settings(args[0], get_settings())


install(app, get_settings)


def _register_commands() -> None:
    """`faust -A pipeline.app replay …` (the body lives in pipeline/replay/cli.py)."""

    register_faust_command(app)


_register_commands()
