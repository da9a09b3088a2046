"""The Faust app: `faust -A pipeline.app worker -l info` (or `sportsflow worker`).

The app object and its configuration only: the topics, tables and agents of the two stages are
installed from `agents/worker.py` (whose docstring draws them and says how records are acked).
Importing this module builds no connections and reads no environment: the broker and other
settings are applied when Faust finalizes the app (`on_configured`).
"""

from __future__ import annotations

from typing import Any

import faust

from agents.liveness import BoundedStopWorker
from agents.recovery import TableManager
from agents.worker import install
from pipeline.faust_config import apply_settings, shorten_fetch_wait
from pipeline.replay.cli import register_faust_command
from runtime.settings import get_settings

shorten_fetch_wait()  # Faust's consumer otherwise lets the broker hold a fetch 1.5 s (pipeline/faust_config.py)

app = faust.App(
    "sportsflow",
    autodiscover=False,
    value_serializer="raw",
    key_serializer="raw",
    processing_guarantee="at_least_once",
    TableManager=TableManager,  # stream partitions seeked before they are resumed (agents/recovery.py)
    Worker=BoundedStopWorker,  # a stop on SIGTERM takes a bounded time (agents/liveness.py)
)


@app.on_configured.connect
def _configure(sender: Any, /, *args: Any, signal: Any, **_: Any) -> None:
    apply_settings(args[0], get_settings())


install(app, get_settings)
register_faust_command(app)  # `faust -A pipeline.app replay …` (the body lives in pipeline/replay/cli.py)
