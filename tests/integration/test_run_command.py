"""`sportsflow run` (what `make run` runs) prints the WebSocket and board URLs only once a client can connect.

Observed as a user would: the command runs as a process, its output is read line by line, and a
WebSocket client connects the instant the URL appears. The run uses free ports and its own app id so
it can sit beside anything else on the shared local stack.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid

import orjson
import pytest
from websockets.sync.client import connect

from tests.conftest import ROOT, free_port

# `last`: the demo publishes its simulated world into the shared raw topics, where the session's worker
# would mix it into other tests' fixtures; so it runs after them.
pytestmark = [pytest.mark.integration, pytest.mark.last, pytest.mark.timeout(300)]


def test_a_client_connecting_the_moment_the_url_is_printed_is_accepted(stack) -> None:
    """No `Connection refused`: the URL line appears only after the broadcaster answers."""
    ports = {
        "SPORTSFLOW_BROADCASTER__PORT": free_port(),
        "SPORTSFLOW_API__PORT": free_port(),
        "SPORTSFLOW_SIMULATOR__PORT": free_port(),
        "SPORTSFLOW_PROCESSING__WEB_PORT": free_port(),
        "SPORTSFLOW_METRICS__PORT_WORKER": free_port(),
        "SPORTSFLOW_METRICS__PORT_CONNECTORS": free_port(),
        "SPORTSFLOW_METRICS__PORT_BROADCASTER": free_port(),
        "SPORTSFLOW_METRICS__PORT_API": free_port(),
        "SPORTSFLOW_METRICS__PORT_SINK": free_port(),
        "SPORTSFLOW_METRICS__PORT_ARCHIVE": free_port(),
    }
    env = {**os.environ, **{k: str(v) for k, v in ports.items()}, "PYTHONUNBUFFERED": "1",
           "SPORTSFLOW_PROCESSING__APP_ID": f"sportsflow-run-test-{uuid.uuid4().hex[:8]}",
           # Only what happens from now on: not the whole session's backlog again under another app id.
           "SPORTSFLOW_PROCESSING__AUTO_OFFSET_RESET": "latest",
           "SPORTSFLOW_DYNAMODB_SINK__AUTO_OFFSET_RESET": "latest",
           "SPORTSFLOW_ARCHIVE__AUTO_OFFSET_RESET": "latest"}
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "run"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: list[str] = []
    try:
        assert proc.stdout is not None
        url = None
        deadline = time.monotonic() + 240
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            match = re.match(r"Connect with:\s+(ws://\S+)", line)
            if match:
                url = match.group(1)
        assert url is not None, "no WebSocket URL printed:\n" + "".join(seen)
        # The live board's link (printed just before) is served at once too, with the demo token in it.
        board = next((m.group(1) for m in map(re.compile(r"Live board:\s+(http://\S+)").match, seen) if m), None)
        assert board is not None, "no board URL printed:\n" + "".join(seen)
        assert board.split("token=")[1] == url.split("token=")[1]
        with urllib.request.urlopen(board, timeout=5) as page:
            assert page.status == 200
            assert b"Sportsflow" in page.read()
        # Connect at once, as a client reading the printout would.
        with connect(url, open_timeout=5) as ws:
            ws.send('{"action":"subscribe","subscriptions":["live_scores"]}')
            frame = orjson.loads(ws.recv(timeout=10))
        assert frame["type"] == "subscribed", frame
        printed = "".join(seen)
        assert printed.index("waiting for the services to answer") < printed.index("WebSocket feed:")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
