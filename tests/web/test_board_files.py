"""The board's files are served by the broadcaster itself, from memory, with a strict CSP."""

from __future__ import annotations

import asyncio
import re

import httpx

from runtime.settings import BroadcasterSettings
from sinks.websocket.hub import Hub
from sinks.websocket.server import Broadcaster
from sinks.websocket.static import BOARD_DIR, FILES
from tests.conftest import free_port


async def test_board_files_are_served_and_nothing_else() -> None:
    settings = BroadcasterSettings(port=free_port())
    stop, started = asyncio.Event(), asyncio.Event()
    server = asyncio.create_task(Broadcaster(settings, Hub()).serve(stop, started))
    await started.wait()
    base = f"http://127.0.0.1:{settings.port}"
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            page = await http.get("/board")
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")
            csp = page.headers["content-security-policy"]
            assert "script-src 'self'" in csp
            assert "frame-ancestors 'none'" in csp
            assert page.headers["referrer-policy"] == "no-referrer"  # the token may be in the URL
            # Every asset the page names is served, and none comes from another host (works offline).
            assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
            assert assets
            assert all(a.startswith("/board/") for a in assets), assets
            for asset in assets:
                answer = await http.get(asset)
                assert answer.status_code == 200, asset
                assert answer.content == (BOARD_DIR / FILES[asset][0]).read_bytes()
            script = await http.get("/board/board.js")
            assert script.headers["content-type"].startswith("text/javascript")
            assert "http://" not in script.text
            assert "https://" not in script.text
            assert (await http.get("/")).headers["location"] == "/board"
            for path in ("/board/../pipeline/settings.py", "/board/static.py", "/board/x.js", "/etc/passwd"):
                assert (await http.get(path)).status_code == 404, path
    finally:
        stop.set()
        await server


def test_every_board_file_is_listed() -> None:
    """A file added to the board directory but not to FILES would 404 in the browser."""
    listed = {name for name, _kind in FILES.values()}
    assert listed == {p.name for p in BOARD_DIR.iterdir()}
