"""Prometheus metrics (process-local). CloudWatch EMF lines are written by `pipeline/emf.py`."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PARTITION_STALLS = Counter("sportsflow_partition_stalls_total", "Partitions the watchdog found stalled", ["topic"])
RECORDS = Counter("sportsflow_records_total", "Records handled by stage and outcome", ["stage", "outcome"])
LATENCY = Histogram("sportsflow_stage_latency_seconds", "Latency from provider response to stage", ["stage"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0))
WS_CLIENTS = Gauge("sportsflow_websocket_clients", "Connected WebSocket clients")
