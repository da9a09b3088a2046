"""A worker of the replay tests' own that starts at the end of the raw topics.

The shared `worker` fixture starts from the earliest retained record, so on a stack that has carried
benchmark traffic it first works through hundreds of thousands of records. The diff test only needs
the worker to process the records it publishes after the worker is ready.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from pipeline.settings import Settings
from tests.conftest import ROOT, free_port, wait_for


@pytest.fixture(scope="module")
def fresh_worker(stack: Settings) -> Iterator[str]:
    """A Faust worker process (own app id and consumer group) reading raw topics from their end."""
    app_id = f"sportsflow-replaytest-{uuid.uuid4().hex[:8]}"
    log_path = ROOT / ".stack" / "logs" / f"test-worker-{app_id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SPORTSFLOW_PROCESSING__APP_ID": app_id, "SPORTSFLOW_PROCESSING__WEB_PORT": str(free_port()),
           "SPORTSFLOW_PROCESSING__AUTO_OFFSET_RESET": "latest", "SPORTSFLOW_METRICS__PORT_WORKER": str(free_port()),
           "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "faust", "-A", "pipeline.app", "worker", "-l", "info", "--without-web"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: "Worker]: Ready" in log_path.read_text(errors="replace") or proc.poll() is not None,
                 timeout=90, message="the faust worker to be ready")
        if proc.poll() is not None:
            pytest.fail(f"worker exited: {log_path.read_text()[-3000:]}")
        yield app_id
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
