"""A real browser (headless Chromium) opens the feed with a token and renders a frame."""

from __future__ import annotations

import asyncio
import shutil

import orjson
import pytest
from aiohttp import web

from runtime.settings import BroadcasterSettings
from sinks.websocket.auth import issue_token
from sinks.websocket.hub import Hub
from sinks.websocket.protocol import make_item
from sinks.websocket.server import Broadcaster
from tests.conftest import IN_CI, free_port

CHROMIUM = "/usr/bin/chromium"

PAGE = """<!doctype html><html><body><pre id="out"></pre><script>
const ws = new WebSocket("%(url)s");
ws.onopen = () => ws.send(JSON.stringify({action: "subscribe", subscriptions: ["live_scores"]}));
ws.onmessage = (m) => {
  const frame = JSON.parse(m.data);
  if (frame.type === "event") {
    document.getElementById("out").textContent += "FRAME " + frame.homeTeam + "\\n";
    fetch("/rendered?text=" + encodeURIComponent(document.getElementById("out").textContent));
  }
};
</script></body></html>"""


async def test_headless_chromium_receives_a_frame(tmp_path):
    """Chromium loads a page whose script subscribes over the feed and writes the frame into the DOM."""
    if not shutil.which(CHROMIUM):
        if IN_CI:
            pytest.fail(f"{CHROMIUM} is not installed (scripts/setup.sh should install chromium)")
        pytest.skip(f"{CHROMIUM} is not installed")
    settings = BroadcasterSettings(port=free_port())
    hub, stop, started = Hub(), asyncio.Event(), asyncio.Event()
    record = {"type": "event", "id": "browser-1", "seq": 1, "sport": "soccer", "homeTeam": "Browser United",
              "awayTeam": "Headless FC", "score": {"home": 1, "away": 0}, "status": "live"}
    hub.publish(make_item(orjson.dumps(record), channel="live_scores", topic="canonical.events", partition=0,
                          offset=0, ts_ms=1, key=b"browser-1"))
    server = asyncio.create_task(Broadcaster(settings, hub).serve(stop, started))
    await started.wait()
    token = issue_token(settings, "browser", channels=["live_scores"])
    page = PAGE % {"url": f"ws://127.0.0.1:{settings.port}/ws?token={token}"}

    app = web.Application()
    async def index(_request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    rendered: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def report(request: web.Request) -> web.Response:
        """The page reports what it rendered (real time, not Chromium's virtual time)."""
        if not rendered.done():
            rendered.set_result(request.query.get("text", ""))
        return web.Response(text="ok")

    app.router.add_get("/", index)
    app.router.add_get("/rendered", report)
    runner = web.AppRunner(app)
    await runner.setup()
    http_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", http_port).start()
    try:
        proc = await asyncio.create_subprocess_exec(
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync", f"--user-data-dir={tmp_path}",
            "--remote-debugging-port=0", f"http://127.0.0.1:{http_port}/",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            dom = await asyncio.wait_for(rendered, 60)
        finally:
            proc.kill()
            await proc.wait()
    finally:
        await runner.cleanup()
        stop.set()
        await server
    assert "FRAME Browser United" in dom
