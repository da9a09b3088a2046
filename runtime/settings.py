"""All configuration, in one frozen object built from `SPORTSFLOW_*` environment variables.

Nested concerns use a double underscore: `SPORTSFLOW_KAFKA__BOOTSTRAP_SERVERS`,
`SPORTSFLOW_PROVIDERS__THEODDSAPI__API_KEY`. Nothing here reads the environment at import
time; call `get_settings()` (cached) or build `Settings()` explicitly in tests.
The README's settings table is generated from these models (`sportsflow settings`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["local", "dev", "staging", "prod"]
# Published defaults, for a laptop only: `refusals()` keeps any other environment from starting with them.
LOCAL_JWT_SECRET = "sportsflow-local-dev-secret-change-me"  # noqa: S105 - published on purpose, local only
LOCAL_INGEST_KEY = "sportsflow-local-ingest-key"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KafkaSettings(_Section):
    bootstrap_servers: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma separated.")
    security: Literal["plaintext", "tls", "iam"] = Field(
        "plaintext", description="plaintext (local), tls, or iam (MSK SASL/OAUTHBEARER over TLS)."
    )
    topic_partitions: int = Field(4, description="Partitions for topics Sportsflow creates.")
    topic_replication: int = Field(1, description="Replication factor for topics Sportsflow creates.")
    raw_retention_hours: int = Field(168, description="Retention of raw.<provider> topics.")


class AwsSettings(_Section):
    region: str = Field("us-east-1", description="AWS region (also used against the local servers).")
    endpoint_url_dynamodb: str | None = Field(
        "http://127.0.0.1:4566", description="DynamoDB endpoint; empty for real AWS."
    )
    endpoint_url_s3: str | None = Field("http://127.0.0.1:8333", description="S3 endpoint; empty for real AWS.")
    access_key_id: SecretStr | None = Field(
        SecretStr("sportsflow"), description="Static key for the local servers; empty to use the AWS chain."
    )
    secret_access_key: SecretStr | None = Field(SecretStr("sportsflow-secret"), description="See access_key_id.")
    dynamodb_table: str = Field("sportsflow", description="The single DynamoDB table.")
    s3_bucket: str = Field("sportsflow-archive", description="S3 archive bucket.")
    ttl_days: int = Field(30, description="Retention of DynamoDB history items (TTL attribute `expiresAt`).")
    secrets_manager_prefix: str | None = Field(
        None, description="If set, provider keys are read from Secrets Manager under this prefix."
    )


class StackSettings(_Section):
    """The local, natively started stack (`sportsflow stack up`)."""

    home: Path = Field(Path(".stack"), description="Data, logs, pid files and downloaded jars.")
    kafka_port: int = Field(9092, description="Kafka broker port on 127.0.0.1.")
    kafka_controller_port: int = Field(9093, description="KRaft controller port on 127.0.0.1.")
    dynamodb_port: int = Field(4566, description="moto server (DynamoDB API) port.")
    s3_port: int = Field(8333, description="SeaweedFS S3 port.")
    s3_master_port: int = Field(9333, description="SeaweedFS master port.")
    rabbitmq_port: int = Field(5672, description="RabbitMQ AMQP port on 127.0.0.1 (UOF and STATSCORE push feeds).")
    rabbitmq_dist_port: int = Field(25672, description="RabbitMQ's Erlang distribution port on 127.0.0.1.")
    rabbitmq_epmd_port: int = Field(
        4371, description="Port of the stack's own epmd (a system epmd may hold 4369; we never touch it)."
    )
    start_timeout_s: float = Field(90.0, description="How long `stack up` waits for each service.")


class ProviderSettings(_Section):
    """One provider's connection. Every field has a per-provider default in its connector module."""

    enabled: bool = True
    base_url: str | None = None
    api_key: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    feeds: list[str] | None = None
    poll_live_s: float | None = None
    poll_idle_s: float | None = None
    timeout_s: float = 10.0
    # Requests (The Odds API: credits) Sportsflow may spend per quota period of the connector; None: what the
    # provider's headers say is left. Paces from the first request, or keeps a share of a shared key.
    plan_requests: int | None = Field(None, ge=1)
    params: dict[str, str] = Field(default_factory=dict)


class BroadcasterSettings(_Section):
    """The WebSocket feed (`sportsflow broadcast`, `sinks/websocket/`)."""

    host: str = Field("127.0.0.1", description="WebSocket bind address.")
    port: int = Field(8765, description="WebSocket port (path /ws).")
    jwt_secret: SecretStr | None = Field(
        SecretStr(LOCAL_JWT_SECRET),
        description="HS256 key for client JWTs; empty: no HS256. The built-in default works only in `local` and "
        "only while no jwt_public_key is set.",
    )
    jwt_public_key: str | None = Field(None, description="PEM public key for RS256 client JWTs.")
    jwt_audience: str | None = Field(None, description="Required `aud` claim of client JWTs, if set.")
    jwt_issuer: str | None = Field(None, description="Required `iss` claim of client JWTs, if set.")
    jwt_leeway_s: float = Field(5.0, description="Clock skew tolerated on `exp`.")
    auth_required: bool = Field(True, description="Refuse connections without a valid JWT.")
    auth_timeout_s: float = Field(10.0, description="A client without a query token must send one this soon.")
    queue_size: int = Field(256, description="Per-client outbox bound (after conflation) before it is dropped as slow.")
    write_buffer_bytes: int = Field(64 * 1024, description="Per-client write buffer before frames wait in the outbox.")
    socket_send_buffer: int | None = Field(None, description="SO_SNDBUF per client socket; empty: kernel default.")
    resume_ring_records: int = Field(10_000, description="Recent records kept per topic-partition for resumes.")
    replay_s: float = Field(6 * 3600.0, description="History read back at start to build the snapshot state.")
    entity_ttl_s: float = Field(
        6 * 3600.0,
        description="How long the hub remembers an entity's last seq to drop redeliveries (= processing.dedupe_ttl_s).",
    )
    compression: bool = Field(False, description="permessage-deflate on the WebSocket feed.")
    compression_level: int = Field(6, description="zlib level when compression is on (1 fastest .. 9 smallest).")
    compression_window_bits: int = Field(12, description="Server window bits when compression is on (9..15).")
    max_message_bytes: int = Field(64 * 1024, description="Largest client message accepted (close 1009 above).")
    max_clients: int = Field(
        20_000, description="Authenticated clients beyond this are refused (HTTP 503, or close 1013 on auth)."
    )
    max_pending: int = Field(
        500, description="Connections still waiting to authenticate beyond this are refused with HTTP 503."
    )
    max_queue_bytes: int = Field(
        16 * 1024 * 1024,
        description="Bytes one client's outbox may hold (live, snapshot, control frames); above: dropped (4008).",
    )
    max_messages_per_s: float = Field(20.0, description="Sustained client messages per second (close 4029 above).")
    message_burst: int = Field(60, description="Client messages accepted at once before the per-second rate applies.")
    ping_interval_s: float = Field(20.0, description="Keepalive ping interval.")
    ping_timeout_s: float = Field(20.0, description="A client that does not answer a ping this soon is dropped.")
    close_timeout_s: float = Field(5.0, description="Closing handshake timeout (slow clients, shutdown).")
    drain_timeout_s: float = Field(10.0, description="Grace period for clients to close on SIGTERM.")
    topic_prefix: str = Field("", description="Read `<prefix>canonical.*` topics (isolated benchmarks and tests).")
    gc_tuning: bool = Field(
        True, description="Freeze start-up objects and collect less often: keeps GC pauses off the p99."
    )

    def hs256_key(self) -> str | None:
        """The HS256 key, or None when HS256 is off: no secret, or only the built-in default next to an RS256 key."""
        if self.jwt_secret is None or not self.jwt_secret.get_secret_value():
            return None
        if "jwt_secret" not in self.model_fields_set and self.jwt_public_key:
            return None
        return self.jwt_secret.get_secret_value()


class IngestKey(_Section):
    """A POST /ingest key and the providers it may post for (`*`: any)."""

    key: SecretStr
    providers: list[str] = Field(min_length=1)


class ApiSettings(_Section):
    host: str = Field("127.0.0.1", description="REST API bind address.")
    port: int = Field(8080, description="REST API port.")
    ingest_api_key: SecretStr | None = Field(
        SecretStr(LOCAL_INGEST_KEY), description="POST /ingest key for every provider; empty: only ingest_keys."
    )
    ingest_keys: list[IngestKey] = Field(
        default_factory=list,
        description='POST /ingest keys per provider (JSON): [{"key": "...", "providers": ["sportradar"]}].',
    )
    max_body_bytes: int = Field(1024 * 1024, description="Largest accepted /ingest body.")


class DynamoSinkSettings(_Section):
    """The DynamoDB sink (`sinks/dynamodb.py`): canonical topics -> the single table."""

    max_batch_records: int = Field(500, description="Most Kafka records written (and committed) per batch.")
    write_concurrency: int = Field(8, description="Conditional state writes in flight at once.")
    max_attempts: int = Field(
        6, description="Attempts per DynamoDB call on throttling/5xx before the batch is re-read."
    )
    backoff_initial_s: float = Field(0.05, description="First retry delay; doubles per attempt, jittered.")
    backoff_max_s: float = Field(5.0, description="Cap of the retry delay.")
    auto_offset_reset: Literal["earliest", "latest"] = Field(
        "earliest", description="Where a new consumer group starts (earliest: write everything retained)."
    )


class ArchiveSettings(_Section):
    """The S3 archive (`sinks/archive/writer.py`): raw and canonical topics -> gzip JSON Lines."""

    flush_bytes: int = Field(8 * 1024 * 1024, description="Flush a partition's buffer at this many JSON bytes.")
    flush_interval_s: float = Field(60.0, description="Flush a partition's buffer this long after its first record.")
    max_attempts: int = Field(6, description="Attempts per S3 upload before the buffered records are re-read.")
    backoff_initial_s: float = Field(0.1, description="First retry delay; doubles per attempt, jittered.")
    backoff_max_s: float = Field(10.0, description="Cap of the retry delay.")
    auto_offset_reset: Literal["earliest", "latest"] = Field(
        "earliest", description="Where a new consumer group starts (earliest: archive everything retained)."
    )


DEFAULT_PRIORITY = (
    "sportradar", "sportsdataio", "statscore", "apisports", "jolpica", "theoddsapi/scores", "theoddsapi",
)


class ProcessingSettings(_Section):
    app_id: str = Field("sportsflow", description=(
        "Faust app id: the consumer group of stage 2 and table prefix; stage 1 reads the raw topics as group "
        "`<app id>-normalize`."))
    web_port: int = Field(6066, description="Faust worker web port.")
    dedupe_ttl_s: float = Field(
        6 * 3600.0, description="Entity state (dedupe hashes, seq) is forgotten this long after its last update."
    )
    fixture_ttl_s: float = Field(
        3 * 86400.0, description="A route's fixtures are forgotten this long after the latest one's start time."
    )
    priorities: dict[str, list[str]] = Field(
        default_factory=lambda: {"default": list(DEFAULT_PRIORITY)},
        description="Source precedence per sport (or `default`): provider or provider/feed, best first (JSON).",
    )
    stale_s: float = Field(60.0, description="A followed source silent this long while another has news fails over.")
    hysteresis_s: float = Field(
        30.0, description="A recovered source must deliver this long before it is followed again."
    )
    confirm_s: float = Field(
        30.0, description="The followed source may lag behind another source's published progress this long "
        "before its lower values are published as a correction.",
    )
    match_tolerance_s: float = Field(
        2 * 3600.0, description="Start times within this of each other can be the same fixture across providers."
    )
    discrepancy_grace_s: float = Field(
        15.0, description="Matched providers disagreeing this long on score, status or start time: a discrepancy.")
    team_pins_file: Path | None = Field(
        None, description="JSON {sport: {spelling: team name}} pinned by operators, or providers' team lists "
        "[{provider, sport, payload}]; re-read when it changes.")
    auto_offset_reset: Literal["earliest", "latest"] = Field(
        "earliest", description="Where a new consumer group starts on the raw topics (earliest: lose nothing)."
    )
    order_hold_s: float = Field(
        10.0, description=("Stage 1 releases raw records across providers in record-time order, waiting for a "
                           "provider's partition that is behind; past this long without any release it stops "
                           "waiting (counted in sportsflow_order_hold_expired_total)."))
    stall_timeout_s: float = Field(
        30.0, description="A partition whose lag grows without progress for this long is reported and re-sought."
    )
    gc_tuning: bool = Field(
        True, description=("Once the tables are restored, move them out of the cyclic GC's view (gc.freeze) and "
                           "collect the young generations less often."))
    table_store: Literal["rocksdb", "memory"] = Field(
        "rocksdb", description=("Where the worker keeps its tables: RocksDB files under `data_dir` (kept across "
                                "restarts; a restart reads only the changelogs' tail) or memory (every restart "
                                "re-reads every changelog)."))
    data_dir: Path | None = Field(
        None, description=("The worker's local files (RocksDB tables); one per worker process. Default: "
                           "`<stack home>/faust/<app id>-data`."))


class SimulatorSettings(_Section):
    host: str = Field("127.0.0.1", description="Provider simulator bind address.")
    port: int = Field(8900, description="Provider simulator port.")
    tick_s: float = Field(3.0, description="Seconds between scripted game changes in demo mode.")


class MetricsSettings(_Section):
    """Prometheus `/metrics` per component (self-hosted) and CloudWatch EMF lines on stdout (AWS)."""

    prometheus_enabled: bool = Field(True, description="Serve Prometheus /metrics on the component's port.")
    port_worker: int = Field(9461, description="Prometheus port of `sportsflow worker`.")
    port_connectors: int = Field(9462, description="Prometheus port of `sportsflow connect`.")
    port_broadcaster: int = Field(9463, description="Prometheus port of `sportsflow broadcast`.")
    port_api: int = Field(9464, description="Prometheus port of `sportsflow api`.")
    port_sink: int = Field(9465, description="Prometheus port of `sportsflow sink`.")
    port_archive: int = Field(9466, description="Prometheus port of `sportsflow archive`.")
    emf_enabled: bool | None = Field(
        None, description="Write CloudWatch EMF metric lines to stdout; empty: on unless environment is local."
    )
    emf_interval_s: float = Field(10.0, description="Seconds between EMF flushes (one line per dimension set).")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SPORTSFLOW_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    environment: Environment = Field("local", description="local, dev, staging or prod.")
    log_level: str = Field("INFO", description="Python log level.")
    sentry_dsn: SecretStr | None = Field(None, description="Sentry DSN; empty disables Sentry.")
    kafka: KafkaSettings = KafkaSettings()
    aws: AwsSettings = AwsSettings()
    stack: StackSettings = StackSettings()
    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    broadcaster: BroadcasterSettings = BroadcasterSettings()
    api: ApiSettings = ApiSettings()
    processing: ProcessingSettings = ProcessingSettings()
    simulator: SimulatorSettings = SimulatorSettings()
    dynamodb_sink: DynamoSinkSettings = DynamoSinkSettings()
    archive: ArchiveSettings = ArchiveSettings()
    metrics: MetricsSettings = MetricsSettings()

    def provider(self, name: str) -> ProviderSettings:
        return self.providers.get(name, ProviderSettings())


def refusals(settings: Settings, component: str) -> list[str]:
    """Why `component` must not start with these settings: a published default secret outside `local`."""
    if settings.environment == "local":
        return []
    found = []
    if component == "broadcaster" and settings.broadcaster.hs256_key() == LOCAL_JWT_SECRET:
        found.append("SPORTSFLOW_BROADCASTER__JWT_SECRET is the published local default: set your own, or set it "
                     "empty and use RS256 (SPORTSFLOW_BROADCASTER__JWT_PUBLIC_KEY)")
    ingest = settings.api.ingest_api_key
    defaults = [k for k in settings.api.ingest_keys if k.key.get_secret_value() == LOCAL_INGEST_KEY]
    if component == "api" and ((ingest is not None and ingest.get_secret_value() == LOCAL_INGEST_KEY) or defaults):
        found.append("SPORTSFLOW_API__INGEST_API_KEY is the published local default: set your own, or set it empty "
                     "and use per-provider SPORTSFLOW_API__INGEST_KEYS")
    return found


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
