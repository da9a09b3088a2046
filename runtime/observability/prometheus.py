"""Prometheus metrics (process-local) and their `/metrics` endpoint for self-hosted deployments.

CloudWatch EMF lines are written by `runtime/observability/emf.py`; `runtime/observability/telemetry.py` records both.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.parser import text_string_to_metric_families

log = logging.getLogger(__name__)

PARTITION_STALLS = Counter("sportsflow_partition_stalls_total", "Partitions the watchdog found stalled", ["topic"])
RECORDS = Counter("sportsflow_records_total", "Records handled by stage and outcome", ["stage", "outcome"])
LATENCY = Histogram("sportsflow_stage_latency_seconds", "Latency from provider response to stage", ["stage"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0))
WS_CLIENTS = Gauge("sportsflow_websocket_clients", "Connected WebSocket clients")
WS_DROPS = Counter("sportsflow_websocket_drops_total", "WebSocket connections closed abnormally")
DEAD_LETTERS = Counter("sportsflow_dead_letters_total", "Records sent to the dead-letter topic", ["provider"])
RAW_RECORDS = Counter("sportsflow_raw_records_total", "Raw records the worker normalized (or dead-lettered)",
                      ["provider"])
DEAD_LETTER_SHARE = Gauge("sportsflow_dead_letter_share",
                          "Share of a provider's raw records dead-lettered since the process started", ["provider"])
INGESTION = Counter("sportsflow_ingestion_total", "Provider fetches and /ingest posts by outcome",
                    ["provider", "outcome"])
POLL_INTERVAL = Gauge("sportsflow_poll_interval_seconds",
                      "Effective interval of a polled feed (after quota and rate-limit pacing)", ["provider", "feed"])
QUOTA_REMAINING = Gauge("sportsflow_quota_remaining", "Requests left in the provider's quota period", ["provider"])
FEED_UP = Gauge("sportsflow_feed_up", "1 while a provider feed delivers, 0 while it is down", ["provider", "feed"])
CONSUMER_LAG = Gauge("sportsflow_consumer_lag", "Messages behind on the worker's input topics")
SINK_CONSUMED = Counter("sportsflow_sink_consumed_total", "Records the DynamoDB sink or the archive accepted",
                        ["group"])
ORDER_HOLD_EXPIRED = Counter(
    "sportsflow_order_hold_expired_total",
    "Times stage 1 let raw records go out of record-time order: a provider's partition stayed behind past "
    "processing.order_hold_s")
NATIVE_STAGES = Gauge("sportsflow_native_stages", "Stage modules this worker runs compiled by mypyc (agents/stages)")
SINK_LAG = Gauge("sportsflow_sink_lag", "Messages the DynamoDB sink or the archive has not read yet", ["group"])

# The Prometheus series behind each CloudWatch (EMF) metric, and how the EMF dimensions map to its
# labels: what the Grafana dashboard reads for what the CloudWatch alarms watch.
EMF_EQUIVALENTS: dict[str, tuple[str, dict[str, str]]] = {
    "LatencyMs": ("sportsflow_stage_latency_seconds_count", {"Stage": "stage"}),
    "Records": ("sportsflow_records_total", {"Stage": "stage"}),
    "ErrorRate": ("sportsflow_records_total", {}),
    "DeadLetters": ("sportsflow_dead_letters_total", {}),
    "ConsumerLag": ("sportsflow_consumer_lag", {}),
    "FeedUp": ("sportsflow_feed_up", {"Provider": "provider", "Feed": "feed"}),
    "FeedsDown": ("sportsflow_feed_up", {}),  # sum(1 - sportsflow_feed_up)
    "FailedIngestionRate": ("sportsflow_ingestion_total", {"Provider": "provider"}),
    "WebSocketConnections": ("sportsflow_websocket_clients", {}),
    "WebSocketDropRate": ("sportsflow_websocket_drops_total", {}),
}


@dataclass(slots=True)
class MetricsServer:
    """A running `/metrics` endpoint (a daemon thread); `close()` stops it."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(port: int, host: str = "127.0.0.1", registry: CollectorRegistry = REGISTRY) -> MetricsServer | None:
    """Serve `registry` on http://host:port/metrics (port 0: any free port); None if the port is taken."""
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        log.warning("cannot serve Prometheus metrics on %s:%s: %s", host, port, exc)
        return None
    return MetricsServer(server, thread)


def dead_letter_report(exposition: str) -> str | None:
    """One line from a worker's `/metrics` text: per provider, dead letters / raw records (share).

    None while the worker has not normalized anything yet.
    """
    raw: dict[str, float] = {}
    dead: dict[str, float] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == "sportsflow_raw_records_total":
                raw[sample.labels["provider"]] = sample.value
            elif sample.name == "sportsflow_dead_letters_total":
                dead[sample.labels["provider"]] = sample.value
    parts = [f"{p} {int(dead.get(p, 0))}/{int(n)} ({dead.get(p, 0) / n:.1%})" for p, n in sorted(raw.items()) if n]
    return "dead letters: " + ", ".join(parts) if parts else None
