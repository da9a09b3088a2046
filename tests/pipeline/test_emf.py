"""EMF lines: namespace, names, units and dimension sets are the ones terraform's alarms and scaling read."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram

from runtime.observability import emf, hooks
from runtime.observability import prometheus as metrics
from runtime.observability.emf import EmfAggregator, EmfFlusher
from schemas import headers as h
from tests.terraform.app_metrics import referenced

ROOT = Path(__file__).resolve().parents[2]
SECRET = "provider-key-0f9e8d7c6b5a"


def _docs(lines: list[str]) -> list[dict[str, Any]]:
    docs = [json.loads(line) for line in lines]
    for doc in docs:
        directive = doc["_aws"]["CloudWatchMetrics"][0]
        assert directive["Namespace"] == "Sportsflow"
        for metric in directive["Metrics"]:
            assert metric["Name"] in doc  # every target member is present
        for dimension_set in directive["Dimensions"]:
            for name in dimension_set:
                assert isinstance(doc[name], str)
    return docs


def _find(docs: list[dict[str, Any]], metric: str, **dims: str) -> dict[str, Any]:
    matches = [d for d in docs if metric in d and all(d.get(k) == v for k, v in dims.items())]
    assert len(matches) == 1, (metric, dims, docs)
    return matches[0]


def _dimension_sets(doc: dict[str, Any]) -> list[list[str]]:
    return doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"]


def test_latency_records_and_rates() -> None:
    """Latency is a Values/Counts distribution by [Stage] and [Provider, Stage]; rates are percentages."""
    agg = EmfAggregator(properties={"component": "worker"}, clock=lambda: 1_700_000_000.5)
    for ms in (10, 20, 30, 30):
        agg.latency("theoddsapi", "end_to_end", ms)
    agg.records("theoddsapi", "published", 4)
    for failed in (False, False, False, True):
        agg.outcome("ErrorRate", failed=failed)
    agg.outcome("FailedIngestionRate", failed=False)
    docs = _docs(agg.flush())

    latency = _find(docs, "LatencyMs", Stage="end_to_end", Provider="theoddsapi")
    assert _dimension_sets(latency) == [["Stage"], ["Provider", "Stage"]]
    assert latency["_aws"]["Timestamp"] == 1_700_000_000_500
    stats = latency["LatencyMs"]
    assert (stats["Count"], stats["Sum"], stats["Min"], stats["Max"]) == (4, 90, 10, 30)
    assert sum(stats["Counts"]) == 4
    assert len(stats["Values"]) == len(stats["Counts"]) == 3
    assert {"Name": "LatencyMs", "Unit": "Milliseconds"} in latency["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    assert latency["component"] == "worker"

    assert _find(docs, "Records", Stage="published")["Records"] == 4
    overall = _find(docs, "ErrorRate")
    assert _dimension_sets(overall) == [[]]
    assert overall["ErrorRate"] == 25.0
    assert overall["DeadLetters"] == 1
    assert overall["FailedIngestionRate"] == 0.0
    assert agg.flush() == []  # nothing new, no gauges: nothing to write


def test_gauges_persist_and_websocket_drop_rate() -> None:
    """FeedUp, ConsumerLag and WebSocketConnections repeat every flush; drops are % of live connections."""
    agg = EmfAggregator()
    agg.gauge("FeedUp", 0.0, Provider="apisports", Feed="fixtures")
    agg.gauge("ConsumerLag", 1234.0)
    for _ in range(4):
        agg.ws_opened()
    agg.ws_closed(abnormal=True)
    docs = _docs(agg.flush())
    feed = _find(docs, "FeedUp", Provider="apisports", Feed="fixtures")
    assert (feed["FeedUp"], _dimension_sets(feed)) == (0.0, [["Provider", "Feed"]])
    overall = _find(docs, "WebSocketConnections")
    assert (overall["WebSocketConnections"], overall["WebSocketDropRate"], overall["ConsumerLag"]) == (3, 25.0, 1234.0)
    assert _dimension_sets(overall) == [[]]

    again = _docs(agg.flush())  # 3 connections alive, none dropped
    overall = _find(again, "WebSocketConnections")
    assert (overall["WebSocketConnections"], overall["WebSocketDropRate"]) == (3, 0.0)
    assert _find(again, "FeedUp")["FeedUp"] == 0.0


def test_wide_distributions_split_into_documents_of_at_most_100_values() -> None:
    """EMF allows 100 values per metric per document: more distinct latencies go into more documents."""
    agg = EmfAggregator()
    values = [1.1**i for i in range(200)]  # 1 ms .. ~2 days: ~200 distinct buckets
    for ms in values:
        agg.latency("sportradar", "provider_share", ms)
    docs = [json.loads(line) for line in agg.flush()]
    assert len(docs) > 1
    assert all(len(d["LatencyMs"]["Values"]) <= emf.MAX_VALUES for d in docs)
    assert sum(d["LatencyMs"]["Count"] for d in docs) == len(values)


def test_terraform_alarm_metrics_are_emitted_with_their_dimensions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each app metric terraform/ names can be written with exactly its dimension set (format only:
    that the running processes do write them is tests/integration/test_metrics_outside_in.py)."""
    alarms = {metric: dict(dims) for metric, dims in referenced()}
    assert {"ErrorRate", "LatencyMs", "FailedIngestionRate", "WebSocketDropRate", "ConsumerLag"} <= set(alarms)

    agg = EmfAggregator()
    monkeypatch.setattr(emf, "DEFAULT", agg)
    hooks.observe_canonical([(h.PROVIDER, b"jolpica"), (h.PROVIDER_TS, b"1000"), (h.RECEIVED_TS, b"1500"),
                                     (h.NORMALIZED_TS, b"1504"), (h.PUBLISHED_TS, b"1530")])
    hooks.observe_processed("jolpica", dead_letter=True)
    hooks.observe_fetch("jolpica", ok=False)
    hooks.observe_feed("jolpica", "results", up=True)
    hooks.observe_consumer_lag(7)
    hooks.observe_ws_opened()
    hooks.observe_ws_closed(abnormal=False)
    docs = _docs(agg.flush())
    for metric, dims in alarms.items():
        wanted = sorted(dims)
        assert any(metric in d and wanted in _dimension_sets(d) for d in docs), metric
    stages = {d["Stage"]: d["LatencyMs"]["Sum"] for d in docs if "LatencyMs" in d}
    assert stages == {"provider_share": 500, "normalize": 4, "publish": 26, "end_to_end": 30}
    assert _find(docs, "ErrorRate")["FailedIngestionRate"] == 100.0


def test_lines_carry_no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only names, dimensions and numbers are written: a provider key in the process never appears."""
    agg = EmfAggregator(properties={"component": "connectors", "environment": "prod"})
    monkeypatch.setattr(emf, "DEFAULT", agg)
    hooks.observe_fetch("theoddsapi", ok=True)
    hooks.observe_canonical({h.RECEIVED_TS: b"10", h.PUBLISHED_TS: b"12",
                                     h.RECORD_ID: SECRET.encode()}, "theoddsapi")
    lines = agg.flush()
    assert lines
    assert all(SECRET not in line for line in lines)


async def test_flusher_writes_every_interval_and_once_more_on_cancel() -> None:
    """EmfFlusher writes on its interval and a last time when cancelled (nothing recorded is lost)."""
    agg = EmfAggregator()
    written: list[str] = []
    task = asyncio.create_task(EmfFlusher(agg, interval_s=0.01, write=written.append).run())
    agg.records("statscore", "received")
    await asyncio.sleep(0.05)
    assert len(written) == 1
    agg.records("statscore", "received", 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [json.loads(line)["Records"] for line in written] == [1, 2]


def test_disabled_aggregator_records_nothing() -> None:
    """The process default stays off until telemetry() enables it (no unbounded buffering)."""
    agg = EmfAggregator()
    agg.enabled = False
    agg.latency("jolpica", "normalize", 3)
    agg.ws_opened()
    assert agg.flush() == []


def test_every_latency_stage_has_one_owner() -> None:
    assert set(emf.STAGE_OWNERS) == set(emf.STAGES)
    assert emf.owners("LatencyMs", {"Stage": "to_frame"}) == {"broadcaster"}
    assert emf.owners("LatencyMs", {"Stage": "end_to_end"}) == {"worker"}


def test_broadcast_stages_are_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    agg = EmfAggregator()
    monkeypatch.setattr(emf, "DEFAULT", agg)
    hooks.observe_broadcast([(h.PROVIDER, b"jolpica"), (h.RECEIVED_TS, b"1000"), (h.PUBLISHED_TS, b"1010")],
                                    1013, 1014)
    stages = {d["Stage"]: d["LatencyMs"]["Sum"] for d in _docs(agg.flush()) if "LatencyMs" in d}
    assert stages == {"broadcast": 3, "fan_out": 1, "to_frame": 14}


def test_feeds_down_counts_the_feeds_currently_down() -> None:
    agg = EmfAggregator()
    agg.feed("jolpica", "results", up=True)
    agg.feed("sportradar", "schedule", up=False)
    agg.feed("sportradar", "live", up=False)
    assert _find(_docs(agg.flush()), "FeedsDown")["FeedsDown"] == 2
    agg.feed("sportradar", "live", up=True)
    docs = _docs(agg.flush())
    assert _find(docs, "FeedsDown")["FeedsDown"] == 1
    assert {(d["Provider"], d["Feed"]): d["FeedUp"] for d in docs if "FeedUp" in d} == {
        ("jolpica", "results"): 1.0, ("sportradar", "schedule"): 0.0, ("sportradar", "live"): 1.0}


def test_a_batch_tally_reports_what_observing_each_record_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker observes its published records once per batch (`CanonicalTally`, a batch taken when it is
    sent): the Prometheus histogram, the record counter and the EMF distributions come out as if every record
    had been observed alone."""
    stamps = [(1000, 1500, 1504, 1530), (1000, 1500, 1504, 1530), (None, 2000, 2001, 2001), (900, 905, 905, 9000)]
    batches = [[(h.PROVIDER, b"jolpica" if i % 2 else b"statscore"), (h.RECEIVED_TS, b"%d" % r),
                (h.NORMALIZED_TS, b"%d" % n), (h.PUBLISHED_TS, b"%d" % p)]
               + ([(h.PROVIDER_TS, b"%d" % t)] if t is not None else [])
               for i, (t, r, n, p) in enumerate(stamps)]

    def observed(tallied: bool) -> tuple[list[Any], list[str]]:
        registry = CollectorRegistry()
        latency = Histogram("latency_seconds", "", ["stage"], registry=registry,
                            buckets=metrics.LATENCY._upper_bounds[:-1])
        records = Counter("records_total", "", ["stage", "outcome"], registry=registry)
        monkeypatch.setattr(metrics, "LATENCY", latency)
        monkeypatch.setattr(metrics, "RECORDS", records)
        monkeypatch.setattr(hooks, "_CHILDREN", {})
        agg = EmfAggregator()
        monkeypatch.setattr(emf, "DEFAULT", agg)
        if tallied:  # two batches: the first taken (in the air) while the second is added, then both observed
            tally = hooks.CanonicalTally()
            for headers in batches * 2:
                tally.add(headers)
            first = tally.take()
            for headers in batches:
                tally.add(headers)
            first.observe()
            tally.observe()
        else:
            for headers in batches * 3:
                hooks.observe_canonical(headers)
        samples = sorted((s.name, sorted(s.labels.items()), round(s.value, 9))  # sums: n * x against x + ... + x
                         for m in registry.collect() for s in m.samples if not s.name.endswith("_created"))
        return samples, sorted(json.dumps({k: v for k, v in d.items() if k != "_aws"}, sort_keys=True)
                               for d in _docs(agg.flush()))

    one_by_one, tallied = observed(False), observed(True)
    assert one_by_one == tallied
    assert ("latency_seconds_count", [("stage", "end_to_end")], 12.0) in tallied[0]
    assert ("records_total", [("outcome", "ok"), ("stage", "published")], 12.0) in tallied[0]
