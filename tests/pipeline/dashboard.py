"""What grafana/sportsflow.json reads: the Prometheus series and labels of its panel queries."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

DASHBOARD = Path(__file__).resolve().parents[2] / "grafana" / "sportsflow.json"
_SERIES = re.compile(r"\b(sportsflow_[a-z_]+)(\{[^}]*\})?")
_MATCHER = re.compile(r'(\w+)\s*(?:=~|!~|!=|=)\s*"([^"]*)"')
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
_LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")
# Labels Prometheus adds to every scraped series, and the histogram bucket label.
SCRAPE_LABELS = frozenset({"instance", "job", "le"})


def load() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def targets() -> list[dict[str, Any]]:
    return [t for panel in load()["panels"] for t in panel.get("targets", [])]


def queries() -> list[tuple[str, dict[str, str], set[str]]]:
    """(series, label matchers, labels grouped by or shown) for every series every query names."""
    out = []
    for target in targets():
        expr = target["expr"]
        grouped = {label.strip() for group in _GROUPING.findall(expr) for label in group.split(",") if label.strip()}
        grouped |= set(_LEGEND.findall(target.get("legendFormat", "")))
        for name, selector in _SERIES.findall(expr):
            out.append((name, dict(_MATCHER.findall(selector or "")), grouped))
    return out


def series() -> set[str]:
    return {name for name, _, _ in queries()}
