"""Faults the simulator injects on demand, per provider, for the next N requests.

`duplicate` serves the body last served for the same URL again; `out_of_order` serves an
older one (from two answers back); `quota` answers as the provider does when the plan's
quota is spent (each renderer says how; without one the request is served normally).
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Literal

FaultKind = Literal[
    "latency", "rate_limit", "server_error", "timeout", "truncate", "malformed", "quota", "silent", "duplicate",
    "out_of_order",
]


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    value: float = 0.0  # latency/timeout seconds, Retry-After seconds


class FaultPlan:
    def __init__(self) -> None:
        self._queued: dict[str, deque[Fault]] = defaultdict(deque)
        self.injected: dict[str, list[str]] = defaultdict(list)

    def add(self, provider: str, fault: Fault, count: int = 1) -> None:
        self._queued[provider].extend([fault] * count)

    def clear(self, provider: str | None = None) -> None:
        if provider is None:
            self._queued.clear()
        else:
            self._queued.pop(provider, None)

    def take(self, provider: str) -> Fault | None:
        queue = self._queued.get(provider)
        if not queue:
            return None
        fault = queue.popleft()
        self.injected[provider].append(fault.kind)
        return fault

    def pending(self, provider: str) -> int:
        return len(self._queued.get(provider, ()))
