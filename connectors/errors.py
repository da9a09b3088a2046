"""Connector errors. Messages never contain credentials: URLs are logged without their query."""

from __future__ import annotations

from schemas.errors import SportsflowError


class ProviderError(SportsflowError):
    """A provider request failed. `retriable` says whether the same request may succeed later."""

    def __init__(
        self, provider: str, feed: str, reason: str, *, status: int | None = None,
        retriable: bool = True, retry_after: float | None = None,
    ) -> None:
        self.provider = provider
        self.feed = feed
        self.reason = reason
        self.status = status
        self.retriable = retriable
        self.retry_after = retry_after
        code = f" HTTP {status}" if status is not None else ""
        super().__init__(f"{provider}/{feed}:{code} {reason}")


class QuotaExhaustedError(ProviderError):
    """The provider's quota for this period is spent (or our budget forbids spending more)."""


class CircuitOpenError(ProviderError):
    """Too many consecutive failures: requests to this provider are paused."""
