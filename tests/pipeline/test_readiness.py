"""`wait_until_ready`: URLs are announced only once their service answers, slow ones are named."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from pipeline.readiness import NotReadyError, Probe, http_answers, wait_until_ready


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def ready_after(clock: FakeClock, at: float):
    return lambda: clock.now >= at


def test_each_service_is_announced_when_it_answers_and_slow_ones_are_named() -> None:
    """Announcements follow readiness order; after the patience window the still-starting names are echoed."""
    clock = FakeClock()
    announced: list[tuple[str, float]] = []
    notices: list[str] = []
    probes = [Probe("broadcaster", ready_after(clock, 7.0)), Probe("api", ready_after(clock, 1.0))]
    wait_until_ready(probes, on_ready=lambda n: announced.append((n, clock.now)), echo=notices.append,
                     patience_s=3.0, clock=clock, sleep=clock.sleep)
    assert [n for n, _ in announced] == ["api", "broadcaster"]
    assert announced[0][1] >= 1.0
    assert announced[1][1] >= 7.0
    assert notices, "a service slower than the patience window must be named"
    assert all("broadcaster" in n and "api" not in n for n in notices)


def test_a_process_that_dies_is_reported_not_waited_for() -> None:
    clock = FakeClock()
    probe = Probe("api", lambda: False, alive=lambda: clock.now < 2.0)
    with pytest.raises(NotReadyError, match="api exited"):
        wait_until_ready([probe], on_ready=lambda _: None, echo=lambda _: None, clock=clock, sleep=clock.sleep)


def test_timeout_names_what_never_answered() -> None:
    clock = FakeClock()
    with pytest.raises(NotReadyError, match="broadcaster"):
        wait_until_ready([Probe("broadcaster", lambda: False)], on_ready=lambda _: None, echo=lambda _: None,
                         timeout_s=5.0, clock=clock, sleep=clock.sleep)


@pytest.fixture
def http_server() -> Iterator[tuple[str, list[int]]]:
    """A loopback HTTP server whose status the test sets."""
    status = [200]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status[0])
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/health", status
    finally:
        server.shutdown()
        server.server_close()


def test_http_probe_statuses(http_server: tuple[str, list[int]]) -> None:
    """Any HTTP answer counts, unless only a healthy one may; a closed port never does."""
    url, status = http_server
    assert http_answers(url)()
    status[0] = 503
    assert http_answers(url)(), "a degraded service still answers"
    assert not http_answers(url, ok_only=True)()
    status[0] = 200
    assert http_answers(url, ok_only=True)()


def test_http_probe_on_a_closed_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert not http_answers(f"http://127.0.0.1:{port}/health", timeout_s=0.5)()
