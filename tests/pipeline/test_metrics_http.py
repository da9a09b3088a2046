"""The Prometheus endpoint serves Sportsflow's metric names."""

from __future__ import annotations

import socket

import httpx

from runtime.observability import hooks
from runtime.observability import prometheus as metrics
from runtime.observability import telemetry as observability
from runtime.settings import MetricsSettings, Settings
from tests.conftest import free_port

NAMES = (
    "sportsflow_records_total", "sportsflow_stage_latency_seconds", "sportsflow_websocket_clients",
    "sportsflow_partition_stalls_total", "sportsflow_dead_letters_total", "sportsflow_ingestion_total",
    "sportsflow_feed_up", "sportsflow_consumer_lag", "sportsflow_websocket_drops_total",
)


def test_metrics_endpoint_serves_our_names() -> None:
    """GET /metrics lists every Sportsflow metric, with samples from the observe_* hooks."""
    server = metrics.serve(0)
    assert server is not None
    try:
        hooks.observe_processed("jolpica", dead_letter=True)
        hooks.observe_feed("jolpica", "results", up=True)
        hooks.observe_canonical({"sf-ts-received": b"100", "sf-ts-published": b"130"}, "jolpica")
        response = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5)
    finally:
        server.close()
    assert response.status_code == 200
    for name in NAMES:
        assert f"# TYPE {name} " in response.text, name
    assert 'sportsflow_feed_up{feed="results",provider="jolpica"} 1.0' in response.text
    assert 'sportsflow_dead_letters_total{provider="jolpica"}' in response.text
    assert 'sportsflow_stage_latency_seconds_count{stage="end_to_end"}' in response.text


def test_port_taken_is_a_warning_not_a_crash() -> None:
    """A second process on the same port logs a warning and runs without /metrics."""
    first = metrics.serve(0)
    assert first is not None
    try:
        assert metrics.serve(first.port) is None
    finally:
        first.close()


async def test_telemetry_serves_the_component_port_for_its_lifetime() -> None:
    """telemetry() opens the component's port while the body runs and closes it after."""
    port = free_port()
    settings = Settings(environment="local", metrics=MetricsSettings(port_api=port, emf_enabled=False))
    async with httpx.AsyncClient() as client:
        async with observability.telemetry(settings, "api"):
            response = await client.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
            assert "sportsflow_records_total" in response.text
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_dead_letter_share_per_provider_is_scraped_and_reported() -> None:
    """The worker's /metrics carries raw records and dead letters per provider; `make run` prints the share."""
    server = metrics.serve(0)
    assert server is not None
    try:
        for dead in (False, False, False, True):
            hooks.observe_processed("share-test", dead_letter=dead)
        text = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5).text
    finally:
        server.close()
    assert 'sportsflow_raw_records_total{provider="share-test"} 4.0' in text
    assert 'sportsflow_dead_letter_share{provider="share-test"} 0.25' in text
    report = metrics.dead_letter_report(text)
    assert report is not None
    assert "share-test 1/4 (25.0%)" in report


def test_dead_letter_report_waits_for_records() -> None:
    assert metrics.dead_letter_report("") is None
