"""Attacks on the running `sportsflow api` process: long URLs, secrets in URLs, bad bodies."""

from __future__ import annotations

import socket
import statistics
import threading
import time

import httpx
import orjson
import pytest

from tests.abuse.procs import INGEST_KEY, Proc, timed_get
from tests.conftest import TIME_UNIT
from tests.integration.test_odds_flow import odds_payload

pytestmark = pytest.mark.integration


def _send_raw(port: int, request: bytes, results: list[bytes]) -> None:
    """One request on its own socket, written as fast as the server takes it; keeps what came back."""
    with socket.create_connection(("127.0.0.1", port), timeout=30 * TIME_UNIT) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks):
                break
        results.append(b"".join(chunks))


def test_health_stays_fast_while_long_urls_are_refused(api_proc: Proc) -> None:
    """While 100 KB and 15 KB URLs (word characters: the scrubber's worst case) hit the API, /health answers
    in < 100 ms, and every long request gets an answer."""
    with httpx.Client(base_url=api_proc.url, timeout=10) as client:
        for _ in range(3):
            timed_get(client, "/health")  # warm: connections to Kafka, DynamoDB, S3
        baseline = statistics.median(timed_get(client, "/health")[0] for _ in range(5))
        results: list[bytes] = []
        attacks = [f"GET /events/{'a' * 100_000} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
                   *(f"GET /events/{'a' * 15_000}?q={'b' * 100} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
                     for _ in range(4)),
                   f"GET /{'c' * 15_000} HTTP/1.1\r\nHost: x\r\n\r\n".encode()]
        threads = [threading.Thread(target=_send_raw, args=(api_proc.port, a, results)) for a in attacks]
        for thread in threads:
            thread.start()
        during = []
        while any(t.is_alive() for t in threads) or len(during) < 5:
            elapsed, status = timed_get(client, "/health")
            assert status == 200
            during.append(elapsed)
            time.sleep(0.02)
        for thread in threads:
            thread.join(30)
    assert len(results) == len(attacks), "a long URL got no answer"
    assert all(r.startswith(b"HTTP/1.1 4") for r in results), [r[:40] for r in results]
    assert statistics.median(during) < 0.1 * TIME_UNIT, (baseline, during)
    # at most one refresh of the dependency checks (Kafka, DynamoDB, S3) per second pays more
    assert max(during) < 1.5 * TIME_UNIT, (baseline, during)


def test_secrets_in_urls_never_reach_the_log(api_proc: Proc) -> None:
    """The ingest key (a registered secret) and key-like query parameters are filtered from the access log."""
    marker = f"probe{time.time_ns()}"
    with httpx.Client(base_url=api_proc.url, timeout=10) as client:
        client.get(f"/events/{marker}-{INGEST_KEY}")
        client.get(f"/events/{marker}", params={"apiKey": "qk-51a9e0b7c3", "token": "tk-7d2c4e9f10"})
    deadline = time.monotonic() + 5 * TIME_UNIT
    while api_proc.log().count(marker) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    log = api_proc.log()
    assert log.count(marker) >= 2, log[-2000:]  # the lines were written...
    for secret in (INGEST_KEY, "qk-51a9e0b7c3", "tk-7d2c4e9f10"):
        assert secret not in log  # ...without the secrets


def test_api_serves_metrics(api_proc: Proc) -> None:
    """`sportsflow api` serves Prometheus /metrics on its own port, like every other process."""
    response = httpx.get(f"http://127.0.0.1:{api_proc.metrics_port}/metrics", timeout=5)
    assert response.status_code == 200
    assert "sportsflow_" in response.text


@pytest.mark.parametrize("depth", [300, 1000, 5000])
def test_deeply_nested_ingest_is_a_400_with_a_json_reason(api_proc: Proc, depth: int) -> None:
    """A payload nested hundreds or thousands of levels deep is refused with 400 and a JSON error."""
    payload = "[" * depth + "]" * depth
    body = f'{{"provider": "theoddsapi", "feed": "odds", "payload": {payload}}}'
    response = httpx.post(f"{api_proc.url}/ingest", content=body, timeout=15,
                          headers={"X-API-Key": INGEST_KEY, "Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["error"] in {"JSON nested too deeply", "malformed JSON"}


def test_a_body_under_the_limit_whose_envelope_does_not_fit_kafka_is_413(api_proc: Proc, unique: str) -> None:
    """A valid body just under max_body_bytes (1 MiB), whose envelope exceeds a Kafka record, is 413 (not 503)."""
    event = dict(odds_payload(unique)[0], padding="")
    small = orjson.dumps({"provider": "theoddsapi", "feed": "odds", "params": {"oddsFormat": "american"},
                          "payload": [event]})
    event["padding"] = "x" * (1024 * 1024 - len(small) - 100)
    body = orjson.dumps({"provider": "theoddsapi", "feed": "odds", "params": {"oddsFormat": "american"},
                         "payload": [event]})
    assert 1024 * 1024 - 200 < len(body) < 1024 * 1024
    response = httpx.post(f"{api_proc.url}/ingest", content=body, timeout=30,
                          headers={"X-API-Key": INGEST_KEY, "Content-Type": "application/json"})
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "payload too large for one Kafka record"


def test_wide_event_queries_do_not_starve_the_api(api_proc: Proc) -> None:
    """Four concurrent 14-day, all-sport GET /events (one index query per day each, not 195) all answer
    200, and a GET by id meanwhile stays fast."""
    since = "2026-01-01T00:00:00Z"
    url = f"/events?since={since}&until=2026-01-15T00:00:00Z&limit=200"
    results: list[int] = []

    def wide() -> None:
        with httpx.Client(base_url=api_proc.url, timeout=30) as c:
            results.append(c.get(url).status_code)

    threads = [threading.Thread(target=wide) for _ in range(4)]
    with httpx.Client(base_url=api_proc.url, timeout=30) as client:
        for thread in threads:
            thread.start()
        by_id = [timed_get(client, "/events/not-stored") for _ in range(5)]
        for thread in threads:
            thread.join(30)
    assert results == [200] * 4
    assert all(status == 404 for _, status in by_id)
    assert statistics.median(elapsed for elapsed, _ in by_id) < 0.5 * TIME_UNIT, by_id


def test_a_100_kb_header_is_answered_promptly_and_health_stays_up(api_proc: Proc) -> None:
    """A request with a 100 KB header gets a prompt answer (h11 parses a complete head; the access-log
    line is capped), and the API keeps answering /health fast."""
    results: list[bytes] = []
    start_s = time.perf_counter()
    _send_raw(api_proc.port, f"GET /health HTTP/1.1\r\nHost: x\r\nX-Long: {'b' * 100_000}\r\n\r\n".encode(), results)
    assert time.perf_counter() - start_s < 1.0 * TIME_UNIT
    assert results[0].startswith((b"HTTP/1.1 200", b"HTTP/1.1 4")), results[0][:60]
    with httpx.Client(base_url=api_proc.url, timeout=5) as client:
        elapsed, status = timed_get(client, "/health")
    assert status == 200
    assert elapsed < 0.5 * TIME_UNIT
