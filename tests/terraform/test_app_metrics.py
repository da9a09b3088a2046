"""The app metrics terraform/ names (alarms, dashboard, autoscaling) are ones the code can emit.

Whether the running processes really emit them: tests/integration/test_metrics_outside_in.py.
"""

from __future__ import annotations

from runtime.observability import emf
from runtime.observability.prometheus import EMF_EQUIVALENTS
from tests.terraform.app_metrics import app_metric_refs, referenced
from tests.terraform.hcl import tf_locals


def test_the_reader_finds_every_alarm_widget_and_scaling_policy() -> None:
    """The reader is not vacuous: each app alarm, dashboard entry and the broadcaster policy is found."""
    places = {ref.where for ref in app_metric_refs()}
    alarms = tf_locals("monitoring")["app_alarms"]
    found_alarms = [r for r in app_metric_refs() if r.where == "monitoring: local app_alarms"]
    assert len(found_alarms) == len(alarms)
    assert "ecs: aws_appautoscaling_policy.broadcaster_connections" in places
    assert "monitoring: local dashboard_metrics" in places


def test_dimension_values_are_resolved() -> None:
    """`Stage = var.latency_stage` resolves to the variable's default, a stage the app records."""
    stages = {dict(dims).get("Stage") for metric, dims in referenced() if metric == "LatencyMs"}
    assert stages
    assert stages <= set(emf.STAGES)


def test_every_referenced_metric_has_a_unit_an_owner_and_a_prometheus_series() -> None:
    for metric, dims in referenced():
        assert metric in emf._UNITS, metric
        assert emf.owners(metric, dict(dims)), metric
        series, labels = EMF_EQUIVALENTS[metric]
        assert series.startswith("sportsflow_")
        assert {k for k, _ in dims} <= set(labels) | {"Provider"}, (metric, dims)
