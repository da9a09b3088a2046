"""Sportsflow's exception tree. Every error the project raises derives from `SportsflowError`.

    SportsflowError
    ├── NormalizationError        a raw payload cannot become canonical records (-> dead letter)
    │   └── UnknownFeedError      no normalizer is registered for the provider/feed
    ├── OddsFormatError           schemas/odds.py: a price that no odds format allows (also a ValueError)
    ├── ProviderError             connectors/errors.py: a provider request failed (`retriable` decides retry or down)
    │   ├── QuotaExhaustedError   the plan's credits are spent until the period ends
    │   └── CircuitOpenError      the provider's circuit breaker is open
    ├── SecretsError              connectors/secrets.py: provider credentials cannot be read
    ├── SinkError                 a sink cannot store records (boto errors mapped in runtime/aws.py)
    │   └── SinkWriteError        a write to DynamoDB, S3 or Kafka failed (`retriable` says if retrying helps)
    ├── PinsError                 agents/stages/pins.py: the operators' pin file is malformed (also a ValueError)
    ├── ProtocolError             sinks/websocket/protocol.py: a WebSocket client message breaks the protocol
    ├── AuthError                 sinks/websocket/auth.py: a client token is missing, invalid or lacks a scope
    ├── ReplayError               pipeline/replay/select.py: a replay cannot run (exit status 1)
    │   └── SelectionError        the selection is wrong (exit status 2)
    ├── StackError                pipeline/stack: a local service cannot start or is unhealthy
    ├── NotReadyError             pipeline/readiness.py: a service did not answer in time
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


class SinkError(SportsflowError):
    """A sink could not make records durable."""


class SinkWriteError(SinkError):
    """One storage call failed. `code` is the service's error code, `retriable` whether to try again."""

    def __init__(self, service: str, operation: str, code: str, message: str, *, retriable: bool) -> None:
        self.service = service
        self.operation = operation
        self.code = code
        self.retriable = retriable
        super().__init__(f"{service} {operation} failed: {code}: {message}")
