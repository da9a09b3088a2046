"""Small, injectable policies: backoff, circuit breaker, quota budget and adaptive cadence."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime


@dataclass
class CircuitBreaker:
    """Opens after `threshold` consecutive failures; lets one probe through after `reset_s`."""

    threshold: int = 5
    reset_s: float = 30.0
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    opened_at: float | None = None

    def allow(self) -> bool:
        if self.opened_at is None:
            return True
        return self.clock() - self.opened_at >= self.reset_s  # half-open: one probe

    def record_success(self) -> None:
        self.failures, self.opened_at = 0, None

    def record_failure(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            self.opened_at = self.clock()

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None

    def remaining_s(self) -> float:
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.reset_s - (self.clock() - self.opened_at))


@dataclass
class CredentialGate:
    """What every feed sharing one provider credential must respect before its next request.

    `hold(s)` after a 429 / `Retry-After` or a spent quota: no feed of the key asks before then.
    `refuse(s, reason)` after a non-retriable answer (bad or revoked key, forbidden, plan limit): the
    feeds stay down with `reason` and the key is probed again only after `s`, by one feed.
    """

    clock: Callable[[], float] = time.monotonic
    until: float = 0.0
    refusal: str | None = None

    def hold(self, seconds: float) -> None:
        self.until = max(self.until, self.clock() + seconds)

    def refuse(self, seconds: float, reason: str) -> None:
        self.refusal = reason
        self.until = max(self.until, self.clock() + seconds)

    def wait_s(self) -> float:
        return max(0.0, self.until - self.clock())

    def accepted(self) -> None:
        """A request with this credential succeeded: whatever refused it is over."""
        self.refusal = None


@dataclass
class QuotaBudget:
    """Spreads what is left of a credential's quota over the time left in its period.

    What is left is the smaller of what the provider's headers say (`remaining`) and, with a plan size
    (`plan`: requests or credits Sportsflow may spend per period), the plan minus what we spent in this
    period. A poll costs what the provider says a request costs (The Odds API: `x-requests-last` credits)
    or one per request, pages and follow-ups included; `costs` keeps each feed's last poll cost. We never
    plan to spend faster than `left / seconds_left`, and keep `reserve` for the end of the period.
    """

    period_s: float = 30 * 86400.0
    reserve: int = 10
    clock: Callable[[], float] = time.time
    plan: int | None = None
    remaining: int | None = None
    period_ends_at: float | None = None
    spent: float = 0.0
    costs: dict[str, float] = field(default_factory=dict)
    floors: dict[str, float] = field(default_factory=dict)

    def update(self, remaining: int | None, resets_in_s: float | None = None) -> None:
        self.roll()
        if remaining is not None:
            self.remaining = remaining
        if resets_in_s is not None:
            self.period_ends_at = self.clock() + resets_in_s
        elif self.period_ends_at is None:
            self.period_ends_at = self.clock() + self.period_s

    def roll(self) -> None:
        """A new period began: what was left or spent in the old one no longer says anything."""
        if self.period_ends_at is not None and self.clock() >= self.period_ends_at:
            self.remaining, self.period_ends_at, self.spent = None, None, 0.0

    def charge(self, cost: float) -> None:
        """Requests (or credits) just spent, whatever their outcome."""
        self.roll()
        if self.period_ends_at is None:
            self.period_ends_at = self.clock() + self.period_s
        self.spent += cost

    def poll_cost(self, feed: str, cost: float, floor_s: float = 0.0) -> None:
        """What one whole poll of `feed` cost, and the interval it polls at anyway (its cadence): its next
        polls are planned at that price, and never more often than that."""
        self.costs[feed] = cost
        self.floors[feed] = floor_s

    @property
    def left(self) -> float | None:
        known = [v for v in (self.remaining, None if self.plan is None else self.plan - self.spent) if v is not None]
        return min(known) if known else None

    def round_cost(self, concurrent_feeds: int = 1) -> float:
        """The cost of one poll of every feed of the key (a feed not yet priced counts one request)."""
        return sum(self.costs.values()) + max(0, concurrent_feeds - len(self.costs))

    def min_interval_s(self, concurrent_feeds: int = 1) -> float:
        """The shortest interval T one of `concurrent_feeds` feeds may poll at to last the period.

        Each feed polls every max(T, its own cadence): a feed whose cadence is slower than T (a 6-hourly
        team list, an idle feed) spends cost x seconds left / cadence, the others cost x seconds left / T,
        and together they spend at most what is left (less the reserve)."""
        left = self.left
        if left is None:
            return 0.0
        usable = left - self.reserve
        if usable <= 0:
            return float("inf")
        seconds_left = max(1.0, (self.period_ends_at or self.clock() + self.period_s) - self.clock())
        feeds = [(cost, self.floors.get(name, 0.0)) for name, cost in self.costs.items()]
        feeds += [(1.0, 0.0)] * max(0, concurrent_feeds - len(self.costs))  # not yet priced: one request
        paced = sorted(feeds, key=lambda f: f[1])
        fixed = 0.0  # what the feeds slower than T spend at their own cadence
        interval = seconds_left * sum(c for c, _ in paced) / usable
        while paced and paced[-1][1] > interval:
            cost, floor = paced.pop()
            fixed += cost * seconds_left / floor
            if fixed >= usable:  # the slow feeds alone would spend it all: every feed must be paced
                return seconds_left * self.round_cost(concurrent_feeds) / usable
            interval = seconds_left * sum(c for c, _ in paced) / (usable - fixed)
        return interval

    @property
    def exhausted(self) -> bool:
        left = self.left
        return left is not None and left <= self.reserve


def max_age_s(headers: Mapping[str, str]) -> float | None:
    """`Cache-Control: max-age=N` -> N: the provider refreshes no faster than that."""
    for part in headers.get("cache-control", "").split(","):
        name, _, value = part.strip().partition("=")
        if name.lower() == "max-age" and value.isdigit():
            return float(value)
    return None


def retry_after_s(headers: Mapping[str, str], default: float) -> float:
    value = headers.get("retry-after")
    if value is None:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return default
