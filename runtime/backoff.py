"""The one backoff policy: capped exponential delays with equal jitter, injectable for tests.

Connectors (provider requests, push streams, AMQP), the sinks' write retries and the worker's publish
retries all wait with it. Attempt `n` waits between half and all of `min(cap_s, base_s * 2**n)`: many
processes retrying at once spread out, and none retries sooner than half its ceiling.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Backoff:
    """Stateless `delay(attempt)`, or stateful `next_delay()` ... `reset()` after a success."""

    base_s: float = 0.5
    cap_s: float = 60.0
    rng: Callable[[], float] = random.random
    attempt: int = 0

    def delay(self, attempt: int) -> float:
        ceiling = min(self.cap_s, self.base_s * 2 ** min(attempt, 30))
        return float(ceiling * (0.5 + 0.5 * self.rng()))

    def next_delay(self) -> float:
        delay = self.delay(self.attempt)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0
