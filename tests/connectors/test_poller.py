"""The shared polling loop's hooks: paging, follow-ups, out-of-order snapshots, quota periods.

Also the helpers the provider tests share: an in-process simulator and a poller factory.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiohttp import web

from connectors.base import FeedRequest, HttpProvider
from connectors.errors import ProviderError, QuotaExhaustedError
from connectors.poller import FeedPoller, ProviderState
from connectors.publisher import MemoryPublisher
from connectors.simulator.server import Simulator, build_app
from runtime.backoff import Backoff
from runtime.settings import ProviderSettings

# Noon US-Eastern: far from midnight, so dated feeds make one request per poll.
START = datetime(2025, 1, 15, 17, 0, tzinfo=UTC)


@contextlib.asynccontextmanager
async def serve(sim: Simulator) -> AsyncIterator[str]:
    """The simulator on a free loopback port; yields its base URL."""
    runner = web.AppRunner(build_app(sim), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def make_poller(provider: HttpProvider, feed: FeedRequest, settings: ProviderSettings, client: httpx.AsyncClient,
                publisher: MemoryPublisher | None = None, state: ProviderState | None = None) -> FeedPoller:
    return FeedPoller(provider, feed, settings=settings, client=client, publisher=publisher or MemoryPublisher(),
                      state=state or ProviderState(), backoff=Backoff(rng=lambda: 0.5))


class Paged(HttpProvider):
    """A provider whose answers page by `page` and whose items carry an update time."""

    name = "paged"

    def feeds(self, settings: ProviderSettings) -> list[FeedRequest]:
        return [FeedRequest(self.name, "things", "things", "/things", {"sport": "x"}, meta={"_hidden": "1"})]

    def next_page(self, feed: FeedRequest, response: httpx.Response, payload: Any) -> dict[str, str] | None:
        if isinstance(payload, list):  # a follow-up's answer: one page
            return None
        return {"page": str(payload["page"] + 1)} if payload["page"] < payload["pages"] else None

    def combine(self, feed: FeedRequest, pages: list[Any]) -> Any:
        return [item for page in pages for item in (page if isinstance(page, list) else page["items"])]

    def split(self, feed: FeedRequest, payload: Any) -> list[tuple[str, Any]]:
        return [(item["id"], item) for item in payload]

    def version(self, feed: FeedRequest, part: Any) -> str | None:
        return str(part["updated"])

    def follow_ups(self, feed: FeedRequest, payload: Any) -> list[FeedRequest]:
        if feed.name != "things":
            return []
        return [FeedRequest(self.name, "things", f"detail:{item['id']}", f"/detail/{item['id']}",
                            final=item.get("done", False)) for item in payload if item.get("detail")]


class Server:
    """A scripted MockTransport handler: pages of items, failures on demand, a request log."""

    def __init__(self, items: list[dict[str, Any]], per_page: int = 2) -> None:
        self.items, self.per_page = items, per_page
        self.fail_page: int | None = None
        self.log: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.log.append(request)
        if request.url.path.startswith("/detail/"):
            return httpx.Response(200, json=[{"id": request.url.path.rsplit("/", 1)[1] + "-detail", "updated": 1}])
        page = int(request.url.params.get("page", "1"))
        if page == self.fail_page:
            return httpx.Response(503)
        pages = max(1, -(-len(self.items) // self.per_page))
        chunk = self.items[(page - 1) * self.per_page: page * self.per_page]
        return httpx.Response(200, json={"page": page, "pages": pages, "items": chunk})


def _poller(server: Server) -> tuple[FeedPoller, MemoryPublisher]:
    provider = Paged()
    client = httpx.AsyncClient(base_url="http://test", transport=httpx.MockTransport(server))
    publisher = MemoryPublisher()
    poller = make_poller(provider, provider.feeds(ProviderSettings())[0], ProviderSettings(), client, publisher)
    return poller, publisher


async def test_pages_are_followed_and_published_together():
    """Every page is fetched within one poll; meta params travel in the envelope but are never sent."""
    server = Server([{"id": f"e{i}", "updated": 1} for i in range(5)])
    poller, publisher = _poller(server)
    result = await poller.poll_once()
    assert result.published == 5
    assert [r.url.params.get("page") for r in server.log] == [None, "2", "3"]
    assert all("_hidden" not in r.url.params and r.url.params["sport"] == "x" for r in server.log)
    assert publisher.envelopes[0].params == {"sport": "x", "_hidden": "1"}


async def test_a_failed_page_publishes_nothing_and_the_next_poll_publishes_all():
    """Publishing waits for the last page: a failure on page 2 loses nothing, it only delays."""
    server = Server([{"id": f"e{i}", "updated": 1} for i in range(4)])
    server.fail_page = 2
    poller, publisher = _poller(server)
    with pytest.raises(ProviderError):
        await poller.poll_once()
    assert publisher.envelopes == []
    server.fail_page = None
    assert (await poller.poll_once()).published == 4


async def test_an_older_snapshot_is_not_published_over_a_newer_one():
    """An entity whose version went backwards (an out-of-order answer) is dropped."""
    server = Server([{"id": "e1", "updated": 2, "score": 3}])
    poller, publisher = _poller(server)
    await poller.poll_once()
    server.items = [{"id": "e1", "updated": 1, "score": 1}]
    assert (await poller.poll_once()).published == 0
    server.items = [{"id": "e1", "updated": 3, "score": 4}]
    assert (await poller.poll_once()).published == 1
    assert [e.payload["score"] for e in publisher.envelopes] == [3, 4]


async def test_final_follow_ups_are_fetched_once():
    """A follow-up marked final (a finished race's results) is not fetched again once published."""
    server = Server([{"id": "live", "updated": 1, "detail": True}, {"id": "over", "updated": 1, "detail": True,
                                                                        "done": True}])
    poller, publisher = _poller(server)
    await poller.poll_once()
    await poller.poll_once()
    details = [r.url.path for r in server.log if r.url.path.startswith("/detail/")]
    assert details == ["/detail/live", "/detail/over", "/detail/live"]
    assert {e.key for e in publisher.envelopes} == {"live", "over", "live-detail", "over-detail"}


async def test_step_backs_off_then_resets():
    """`step()` returns the jittered backoff after a failure and the cadence after a success."""
    server = Server([{"id": "e1", "updated": 1}])
    server.fail_page = 1
    poller, _ = _poller(server)
    assert await poller.step() == pytest.approx(0.375)
    assert await poller.step() == pytest.approx(0.75)
    server.fail_page = None
    assert await poller.step() == pytest.approx(60.0)
    assert poller.backoff.attempt == 0


async def test_an_exhausted_quota_blocks_requests_until_the_period_ends():
    """No request is made while the budget is spent; a new period lifts the block."""
    now = [1000.0]
    server = Server([{"id": "e1", "updated": 1}])
    poller, _ = _poller(server)
    poller.state.budget.clock = lambda: now[0]
    poller.state.budget.update(0, 50.0)
    with pytest.raises(QuotaExhaustedError):
        await poller.poll_once()
    assert server.log == []
    now[0] += 60
    assert (await poller.poll_once()).published == 1


async def test_secrets_stay_out_of_errors_and_logs(caplog):
    """A transport error names its type only, never the URL with its credentials."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}")

    class Keyed(Paged):
        def auth(self, settings: ProviderSettings) -> tuple[dict[str, str], dict[str, str]]:
            return {}, {"apiKey": "s3cret-key"}

    provider = Keyed()
    client = httpx.AsyncClient(base_url="http://test", transport=httpx.MockTransport(refuse))
    poller = make_poller(provider, provider.feeds(ProviderSettings())[0], ProviderSettings(), client)
    with caplog.at_level("DEBUG"):
        await poller.step()
    assert "s3cret-key" not in caplog.text
    assert "connection error" in caplog.text
