"""Sportsflow's exception tree. Every error the project raises derives from `SportsflowError`.

    SportsflowError
    ├── NormalizationError        a raw payload cannot become canonical records (-> dead letter)
    │   └── UnknownFeedError      no normalizer is registered for the provider/feed
    ├── ProviderError             connectors/errors.py: a provider request failed
    ├── SinkError                 agents/sink_base.py: a sink cannot store records
    │   └── SinkWriteError        a write to DynamoDB, S3 or Kafka failed (`retriable` says if retrying helps)
    ├── StackError                pipeline/stack: a local service cannot start or is unhealthy
    └── ConfigurationError        the settings are unsafe or inconsistent: the process refuses to start

Errors carry the context needed to act on them as attributes, and `retriable` says whether
trying again can help, so callers branch on a property rather than on lists of types.
"""

from __future__ import annotations


class SportsflowError(Exception):
    retriable: bool = False


class ConfigurationError(SportsflowError):
    """A process refuses to start with these settings (e.g. a published default secret outside local)."""


class NormalizationError(SportsflowError):
    """A payload failed validation or conversion. `path` locates the fault inside the payload."""

    def __init__(self, provider: str, feed: str, reason: str, path: str = "$") -> None:
        self.provider = provider
        self.feed = feed
        self.reason = reason
        self.path = path
        super().__init__(f"{provider}/{feed}: {reason} at {path}")

    def as_dict(self) -> dict[str, str]:
        return {"provider": self.provider, "feed": self.feed, "error": self.reason, "path": self.path}


class UnknownFeedError(NormalizationError):
    def __init__(self, provider: str, feed: str) -> None:
        super().__init__(provider, feed, "no normalizer is registered for this provider/feed")
