"""CloudWatch Embedded Metric Format: aggregate in process, write one JSON line per dimension set per interval.

Nothing here calls an AWS API. Recording is a dict update under a lock; `EmfAggregator.flush()`
turns what accumulated into EMF documents (namespace `Sportsflow`) that the awslogs driver ships
and CloudWatch Logs turns into metrics. The names, units and dimension sets are the contract of
`terraform/modules/monitoring` (alarms) and `terraform/modules/ecs` (broadcaster scaling):

    LatencyMs            ms  dimension sets [Stage], [Provider, Stage]; distribution (Values/Counts);
                             stages: `Stage` below (worker: the first four; broadcaster: the last three)
    Records              n   [Stage], [Provider, Stage]
    FeedUp               0/1 [Provider, Feed]
    FeedsDown            n   no dimensions: feeds of this connectors task that are down (the alarm)
    ErrorRate            %   no dimensions: records that became dead letters / records processed
    DeadLetters          n   no dimensions
    FailedIngestionRate  %   no dimensions: failed provider fetches and /ingest posts / all of them
    WebSocketConnections n   no dimensions: open connections of this task
    WebSocketDropRate    %   no dimensions: abnormal closes / connections alive during the interval
    ConsumerLag          n   no dimensions: messages behind on the worker's input topics

Rates are emitted only for an interval that had a denominator, so an idle task does not pull the
alarm's average down to zero.
"""

from __future__ import annotations

import asyncio
import math
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final, Literal

import orjson

NAMESPACE: Final = "Sportsflow"
# provider_share: provider update -> connector received; normalize, publish: inside the worker;
# end_to_end: connector received -> canonical publish; broadcast: canonical publish -> a broadcaster
# read it; fan_out: broadcaster read -> frame sent; to_frame: connector received -> frame sent.
Stage = Literal["provider_share", "normalize", "publish", "end_to_end", "broadcast", "fan_out", "to_frame"]
STAGES: Final[tuple[Stage, ...]] = ("provider_share", "normalize", "publish", "end_to_end", "broadcast", "fan_out",
                                    "to_frame")
MAX_VALUES: Final = 100  # EMF: at most 100 distinct values per metric in one document
_BUCKETS_PER_DECADE: Final = 24  # ~10 % wide buckets: percentiles within ~5 %
_STAGE_SETS: Final = (("Stage",), ("Provider", "Stage"))
_GLOBAL: Final[tuple[tuple[str, str], ...]] = ()
_NO_DIMENSIONS: Final[tuple[tuple[str, ...], ...]] = ((),)


@lru_cache(maxsize=4096)  # latencies are whole milliseconds: few distinct values, one per record
def bucket(value: float) -> float:
    """The representative of `value`'s histogram bucket (log-spaced above 1, 0.1 steps below)."""
    if value < 1.0:
        return round(max(value, 0.0), 1)
    index = round(math.log10(value) * _BUCKETS_PER_DECADE)
    return float(f"{10 ** (index / _BUCKETS_PER_DECADE):.3g}")


@dataclass(slots=True)
class _Distribution:
    counts: dict[float, int] = field(default_factory=dict)
    total: float = 0.0
    n: int = 0
    low: float = math.inf
    high: float = -math.inf

    def add(self, value: float, n: int = 1) -> None:
        value = max(value, 0.0)
        key = bucket(value)
        self.counts[key] = self.counts.get(key, 0) + n
        self.total += value * n
        self.n += n
        self.low = min(self.low, value)
        self.high = max(self.high, value)

    def documents(self) -> Iterator[dict[str, Any]]:
        """Statistic sets with Values/Counts, split so no set holds more than MAX_VALUES values."""
        keys = sorted(self.counts)
        if len(keys) <= MAX_VALUES:  # the usual case: exact sum, min and max
            yield {"Values": keys, "Counts": [self.counts[k] for k in keys],
                   "Max": self.high, "Min": self.low, "Count": self.n, "Sum": self.total}
            return
        for start in range(0, len(keys), MAX_VALUES):
            chunk = keys[start:start + MAX_VALUES]
            counts = [self.counts[k] for k in chunk]
            yield {"Values": chunk, "Counts": counts, "Max": chunk[-1], "Min": chunk[0], "Count": sum(counts),
                   "Sum": sum(k * c for k, c in zip(chunk, counts, strict=True))}


@dataclass(slots=True)
class _Group:
    dimension_sets: tuple[tuple[str, ...], ...]
    distributions: dict[str, _Distribution] = field(default_factory=dict)
    sums: dict[str, float] = field(default_factory=dict)


_UNITS: Final = {
    "LatencyMs": "Milliseconds", "Records": "Count", "FeedUp": "None", "FeedsDown": "Count", "ErrorRate": "Percent",
    "DeadLetters": "Count", "FailedIngestionRate": "Percent", "WebSocketConnections": "Count",
    "WebSocketDropRate": "Percent", "ConsumerLag": "Count",
}


# Which processes write each metric (the `component` property of their documents). A CloudWatch
# metric has no component dimension: an alarm or a scaling policy on it sees only these processes.
OWNERS: Final[dict[str, frozenset[str]]] = {
    "LatencyMs": frozenset({"worker", "broadcaster"}),  # by stage: STAGE_OWNERS
    "Records": frozenset({"worker", "connectors"}),
    "ErrorRate": frozenset({"worker"}), "DeadLetters": frozenset({"worker"}),
    "ConsumerLag": frozenset({"worker"}), "FeedUp": frozenset({"connectors"}), "FeedsDown": frozenset({"connectors"}),
    "FailedIngestionRate": frozenset({"connectors", "api"}),
    "WebSocketConnections": frozenset({"broadcaster"}), "WebSocketDropRate": frozenset({"broadcaster"}),
}

STAGE_OWNERS: Final[dict[str, str]] = {
    "provider_share": "worker", "normalize": "worker", "publish": "worker", "end_to_end": "worker",
    "broadcast": "broadcaster", "fan_out": "broadcaster", "to_frame": "broadcaster",
}


def owners(metric: str, dimensions: dict[str, str | None]) -> frozenset[str]:
    """The processes that write `metric` with these dimension values (None: any value)."""
    stage = dimensions.get("Stage")
    if metric == "LatencyMs" and stage is not None:
        return frozenset({STAGE_OWNERS[stage]}) if stage in STAGE_OWNERS else frozenset()
    return OWNERS.get(metric, frozenset())


class EmfAggregator:
    """Accumulates metrics between flushes. Thread-safe; recording never blocks on I/O."""

    def __init__(self, *, properties: dict[str, str] | None = None, clock: Callable[[], float] = time.time) -> None:
        self.enabled = True
        self._properties = dict(properties or {})
        self._clock = clock
        self._lock = threading.Lock()
        self._groups: dict[tuple[tuple[str, str], ...], _Group] = {}
        self._gauges: dict[tuple[tuple[str, str], ...], _Group] = {}  # last values, kept across flushes
        self._ratios: dict[str, list[float]] = {}  # rate metric -> [numerator, denominator]
        self._ws_open = 0
        self._ws_alive = 0  # open at the interval's start + opened during it
        self._down: set[tuple[str, str]] = set()  # (provider, feed) currently down

    def set_properties(self, **properties: str) -> None:
        """Extra root members of every document (e.g. component, environment); never dimensions."""
        self._properties.update(properties)

    # --- recording (hot path) --------------------------------------------------------------

    def _group(self, dims: tuple[tuple[str, str], ...], sets: tuple[tuple[str, ...], ...]) -> _Group:
        group = self._groups.get(dims)
        if group is None:
            group = self._groups[dims] = _Group(sets)
        return group

    def latency(self, provider: str, stage: Stage, ms: float, n: int = 1) -> None:
        """`n` records with this latency."""
        if self.enabled:
            with self._lock:
                group = self._group((("Provider", provider), ("Stage", stage)), _STAGE_SETS)
                distribution = group.distributions.get("LatencyMs")
                if distribution is None:
                    distribution = group.distributions["LatencyMs"] = _Distribution()
                distribution.add(ms, n)

    def records(self, provider: str, stage: str, n: int = 1) -> None:
        if self.enabled:
            with self._lock:
                sums = self._group((("Provider", provider), ("Stage", stage)), _STAGE_SETS).sums
                sums["Records"] = sums.get("Records", 0) + n

    def outcome(self, rate: Literal["ErrorRate", "FailedIngestionRate"], *, failed: bool, n: int = 1) -> None:
        """`n` outcomes, all failed or all not."""
        if self.enabled:
            with self._lock:
                ratio = self._ratios.setdefault(rate, [0.0, 0.0])
                ratio[0] += n if failed else 0
                ratio[1] += n
                if failed and rate == "ErrorRate":
                    sums = self._group(_GLOBAL, _NO_DIMENSIONS).sums
                    sums["DeadLetters"] = sums.get("DeadLetters", 0) + n

    def gauge(self, name: str, value: float, **dims: str) -> None:
        if self.enabled:
            with self._lock:
                self._set_gauge(name, value, tuple(dims.items()))

    def _set_gauge(self, name: str, value: float, dims: tuple[tuple[str, str], ...]) -> None:
        group = self._gauges.get(dims)
        if group is None:
            group = self._gauges[dims] = _Group((tuple(k for k, _ in dims),))
        group.sums[name] = value

    def feed(self, provider: str, feed: str, up: bool) -> None:
        """A feed went up or down: FeedUp for it, FeedsDown over all feeds this process runs."""
        if self.enabled:
            with self._lock:
                self._set_gauge("FeedUp", 1.0 if up else 0.0, (("Provider", provider), ("Feed", feed)))
                if up:
                    self._down.discard((provider, feed))
                else:
                    self._down.add((provider, feed))
                self._set_gauge("FeedsDown", float(len(self._down)), _GLOBAL)

    def ws_opened(self) -> None:
        if self.enabled:
            with self._lock:
                self._ws_open += 1
                self._ws_alive += 1
                self._set_gauge("WebSocketConnections", self._ws_open, _GLOBAL)

    def ws_closed(self, *, abnormal: bool) -> None:
        if self.enabled:
            with self._lock:
                self._ws_open = max(0, self._ws_open - 1)
                self._set_gauge("WebSocketConnections", self._ws_open, _GLOBAL)
                drops = self._ratios.setdefault("WebSocketDropRate", [0.0, 0.0])
                drops[0] += abnormal

    # --- flushing --------------------------------------------------------------------------

    def flush(self) -> list[str]:
        """The EMF lines for everything recorded since the last flush (and the current gauges)."""
        with self._lock:
            groups, self._groups = self._groups, {}
            ratios, self._ratios = self._ratios, {}
            gauges = [(dims, group.dimension_sets, dict(group.sums)) for dims, group in self._gauges.items()]
            if "WebSocketDropRate" in ratios or self._ws_alive:
                ratios.setdefault("WebSocketDropRate", [0.0, 0.0])[1] = self._ws_alive
            self._ws_alive = self._ws_open
        timestamp = int(self._clock() * 1000)
        overall = groups.setdefault(_GLOBAL, _Group(_NO_DIMENSIONS))
        for name, (failed, total) in ratios.items():
            if total > 0:
                overall.sums[name] = round(100.0 * failed / total, 6)
        lines: list[str] = []
        for dims, sets, values in gauges:
            groups.setdefault(dims, _Group(sets)).sums.update(values)
        for dims, group in groups.items():
            lines.extend(self._documents(timestamp, dims, group))
        return lines

    def _documents(self, timestamp: int, dims: tuple[tuple[str, str], ...], group: _Group) -> Iterator[str]:
        if not group.sums and not group.distributions:
            return
        chunks = {name: list(d.documents()) for name, d in group.distributions.items()}
        for index in range(max([1, *(len(c) for c in chunks.values())])):
            body: dict[str, Any] = {**self._properties, **dict(dims)}
            if index == 0:
                body.update(group.sums)
            body.update({name: c[index] for name, c in chunks.items() if index < len(c)})
            names = [n for n in body if n in _UNITS]
            body["_aws"] = {"Timestamp": timestamp, "CloudWatchMetrics": [{
                "Namespace": NAMESPACE, "Dimensions": [list(s) for s in group.dimension_sets],
                "Metrics": [{"Name": n, "Unit": _UNITS[n]} for n in names],
            }]}
            yield orjson.dumps(body).decode()


def _stdout(line: str) -> None:
    # The real stdout: Faust redirects sys.stdout into its logger, which would wrap the JSON.
    stream = sys.__stdout__ or sys.stdout
    stream.write(line + "\n")
    stream.flush()


class EmfFlusher:
    """Writes the aggregator's lines every `interval_s`. Cancel-safe: a final flush runs on the way out."""

    def __init__(self, aggregator: EmfAggregator, interval_s: float = 10.0,
                 write: Callable[[str], None] = _stdout) -> None:
        self._aggregator = aggregator
        self._interval_s = interval_s
        self._write = write

    def flush(self) -> int:
        lines = self._aggregator.flush()
        for line in lines:
            self._write(line)
        return len(lines)

    async def run(self) -> None:
        try:
            while True:
                await asyncio.sleep(self._interval_s)
                self.flush()
        finally:
            self.flush()


# The process's aggregator; disabled until `runtime.observability.telemetry.telemetry` turns it on.
DEFAULT = EmfAggregator()
DEFAULT.enabled = False


def record_latency(provider: str, stage: Stage, ms: float, n: int = 1) -> None:
    DEFAULT.latency(provider, stage, ms, n)


def record_records(provider: str, stage: str, n: int = 1) -> None:
    DEFAULT.records(provider, stage, n)


def record_processed(*, failed: bool, n: int = 1) -> None:
    """`n` records processed by the worker; `failed`: they became dead letters (ErrorRate, DeadLetters)."""
    DEFAULT.outcome("ErrorRate", failed=failed, n=n)


def record_ingestion(*, failed: bool) -> None:
    """One provider fetch or /ingest post (FailedIngestionRate)."""
    DEFAULT.outcome("FailedIngestionRate", failed=failed)


def set_feed_up(provider: str, feed: str, up: bool) -> None:
    DEFAULT.feed(provider, feed, up)


def set_consumer_lag(messages: int) -> None:
    DEFAULT.gauge("ConsumerLag", float(messages))


def record_ws_opened() -> None:
    DEFAULT.ws_opened()


def record_ws_closed(*, abnormal: bool) -> None:
    DEFAULT.ws_closed(abnormal=abnormal)
