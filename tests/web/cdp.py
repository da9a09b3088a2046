"""Drive Debian's headless Chromium over the DevTools protocol (a WebSocket): no browser download,
no driver. Enough for tests: open a page, evaluate JavaScript in it, take a screenshot."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import IN_CI, free_port

CHROMIUM = "/usr/bin/chromium"


def require_chromium() -> None:
    if shutil.which(CHROMIUM):
        return
    if IN_CI:
        pytest.fail(f"{CHROMIUM} is not installed (scripts/setup.sh should install chromium)")
    pytest.skip(f"{CHROMIUM} is not installed")


class Page:
    """One browser tab, spoken to over its DevTools WebSocket."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.errors: list[str] = []  # uncaught exceptions and console errors of the page
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for text in self.ws:
            message = json.loads(text)
            if message.get("method") == "Runtime.exceptionThrown":
                details = message["params"]["exceptionDetails"]
                self.errors.append(str(details.get("exception", {}).get("description") or details.get("text")))
            elif message.get("method") == "Runtime.consoleAPICalled" and message["params"].get("type") == "error":
                args = message["params"]["args"]
                self.errors.append(" ".join(str(a.get("value", a.get("description"))) for a in args))
            future = self.pending.pop(message.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(message)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[ident] = future
        await self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        message = await asyncio.wait_for(future, 30)
        if "error" in message:
            raise RuntimeError(f"{method}: {message['error']}")
        return message["result"]  # type: ignore[no-any-return]

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def goto(self, url: str) -> None:
        await self.call("Page.navigate", url=url)

    async def screenshot(self, path: Path, *, full: bool = False) -> None:
        """A PNG of the viewport (or, with `full`, of the whole page)."""
        if full:
            size = await self.call("Page.getLayoutMetrics")
            width, height = size["cssContentSize"]["width"], size["cssContentSize"]["height"]
            shot = await self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                                   clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1})
        else:
            shot = await self.call("Page.captureScreenshot", format="png")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))


@contextlib.asynccontextmanager
async def chromium(profile: Path, width: int = 1440, height: int = 1000) -> AsyncIterator[Page]:
    """A headless Chromium with one blank tab, closed afterwards."""
    require_chromium()
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync", "--hide-scrollbars",
        f"--window-size={width},{height}", f"--user-data-dir={profile}", f"--remote-debugging-port={port}",
        "about:blank", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        target = await _page_target(port)
        async with connect(target, max_size=None) as ws:
            page = Page(ws)
            await page.call("Page.enable")
            await page.call("Runtime.enable")
            try:
                yield page
            finally:
                page.reader.cancel()
    finally:
        proc.kill()
        await proc.wait()


async def _page_target(port: int) -> str:
    """The DevTools WebSocket URL of the browser's first tab (Chromium needs a moment to listen)."""
    for _ in range(200):
        try:
            raw = await asyncio.to_thread(_get, f"http://127.0.0.1:{port}/json/list")
            pages = [t for t in json.loads(raw) if t.get("type") == "page"]
            if pages:
                return str(pages[0]["webSocketDebuggerUrl"])
        except OSError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("Chromium did not open its DevTools port")


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=2) as response:  # a local DevTools port
        return response.read()  # type: ignore[no-any-return]
