"""grafana/sportsflow.json queries only series and labels that runtime/observability/prometheus.py defines.

That the running processes serve them: tests/integration/test_metrics_outside_in.py.
"""

from __future__ import annotations

from prometheus_client.metrics import MetricWrapperBase

from runtime.observability import prometheus as metrics
from tests.pipeline import dashboard

_SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum")}


def defined() -> dict[str, set[str]]:
    """Sample name -> its labels, for every metric runtime/observability/prometheus.py defines."""
    out: dict[str, set[str]] = {}
    for metric in vars(metrics).values():
        if not isinstance(metric, MetricWrapperBase):
            continue
        for family in metric.describe():
            labels = set(metric._labelnames)  # prometheus_client has no public accessor
            for suffix in _SUFFIXES[family.type]:
                out[family.name + suffix] = labels
    return out


def test_the_dashboard_has_panels_with_queries() -> None:
    assert len(dashboard.targets()) >= 10
    assert {"sportsflow_records_total", "sportsflow_stage_latency_seconds_bucket", "sportsflow_ingestion_total",
            "sportsflow_websocket_clients", "sportsflow_websocket_drops_total", "sportsflow_consumer_lag",
            "sportsflow_feed_up"} <= dashboard.series()


def test_every_query_names_a_defined_series_and_its_labels() -> None:
    known = defined()
    for name, matchers, grouped in dashboard.queries():
        assert name in known, f"{name} is not a metric of runtime/observability/prometheus.py"
        labels = known[name] | dashboard.SCRAPE_LABELS
        assert set(matchers) <= labels, (name, matchers)
        assert grouped <= labels, (name, grouped)


def test_stage_values_are_stages_the_code_records() -> None:
    from runtime.observability import emf

    for name, matchers, _ in dashboard.queries():
        if "stage" in matchers and name.startswith("sportsflow_stage_latency"):
            assert matchers["stage"] in emf.STAGES, matchers
        if "outcome" in matchers:
            assert matchers["outcome"] in {"ok", "failed", "dead_letter"}, matchers


def test_panels_are_laid_out_without_overlap() -> None:
    cells: set[tuple[int, int]] = set()
    for panel in dashboard.load()["panels"]:
        pos = panel["gridPos"]
        mine = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not cells & mine, panel["title"]
        assert pos["x"] + pos["w"] <= 24
        cells |= mine
