"""Map Sportsflow settings onto Faust's configuration."""

from __future__ import annotations

import ssl
from typing import Any

from faust.auth import OAuthCredentials, SSLCredentials
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from agents.intake import FETCH_WAIT_MS
from runtime.kafka import MskIamTokenProvider
from runtime.observability.sentry import init_sentry
from runtime.settings import Settings


def shorten_fetch_wait() -> None:
    """Faust builds its worker consumer with `fetch_max_wait_ms=1500`, hard-coded. aiokafka leaves a partition
    out of a fetch while records fetched for it are not consumed yet, so a fetch built at that moment can
    hold only partitions with nothing new, and the broker keeps it 1.5 s: the resolve records that came
    in meanwhile then reach stage 2 1.5 s late, and with records flowing the fetches stay in that rhythm.
    Measured at 2,000 updates/s: a standing 1.5-3 s behind in most runs, while stage 2's agent sat idle
    half the time (BENCHMARKS.md). The consumer is built in Faust's consumer thread: this wraps the
    builder so that the consumer it returns waits at most FETCH_WAIT_MS, as stage 1's consumer does on the
    raw topics (agents/intake.py). Idempotent."""
    build = AIOKafkaConsumerThread._create_worker_consumer
    if getattr(build, "fetch_wait_ms", None) == FETCH_WAIT_MS:
        return

    def create_worker_consumer(self: AIOKafkaConsumerThread, transport: Any) -> Any:
        consumer = build(self, transport)
        consumer._fetch_max_wait_ms = FETCH_WAIT_MS  # read when its fetcher starts (AIOKafkaConsumer.start)
        return consumer

    create_worker_consumer.fetch_wait_ms = FETCH_WAIT_MS  # type: ignore[attr-defined]
    AIOKafkaConsumerThread._create_worker_consumer = create_worker_consumer  # type: ignore[method-assign]


def broker_urls(settings: Settings) -> list[str]:
    return [f"kafka://{hostport.strip()}" for hostport in settings.kafka.bootstrap_servers.split(",")]


def credentials(settings: Settings) -> Any:


    mode = settings.kafka.security
    if mode == "plaintext":
        return None
    if mode == "tls":
        return SSLCredentials(ssl.create_default_context())

    # One provider for the producer, the consumer (own thread and loop) and the admin client.
    return OAuthCredentials(oauth_cb=MskIamTokenProvider(settings.aws.region), ssl_context=ssl.create_default_context())


def apply_settings(conf: Any, settings: Settings) -> None:

    init_sentry(settings, "worker")  # no-op without a DSN; metrics: `run_telemetry` in an app task
    processing = settings.processing
    conf.id = processing.app_id
    # Faust keeps per-app files (the RocksDB tables) in its datadir; keep them out of the working directory.
    (settings.stack.home / "faust").mkdir(parents=True, exist_ok=True)
    conf.datadir = str(processing.data_dir or settings.stack.home / "faust" / "{conf.id}-data")
    conf.store = "rocksdb://" if processing.table_store == "rocksdb" else "memory://"
    conf.broker = broker_urls(settings)
    conf.broker_credentials = credentials(settings)
    conf.topic_partitions = settings.kafka.topic_partitions
    conf.topic_replication_factor = settings.kafka.topic_replication
    conf.web_port = processing.web_port
    conf.web_host = "127.0.0.1" if settings.environment == "local" else "0.0.0.0"
    conf.web_bind = conf.web_host
    # Faust's consumer reads only the app's own resolve topic (stage 1 reads the raw topics with
    # `processing.auto_offset_reset`): all of it is this app's, so a partition with no committed offset
    # (a worker killed before its first commit there) is read from the start, never skipped.
    conf.consumer_auto_offset_reset = "earliest"
    conf.producer_acks = -1
    # No timer on the latency path: records sent while a request is in flight batch up by themselves.
    conf.producer_linger = 0.0
    # The hot path appends whole batches (agents/publish.py); one batch per partition is in flight at a time.
    conf.producer_max_batch_size = 512 * 1024
    # A killed worker's partitions move on after 10 s, not Faust's default 60 s.
    conf.broker_session_timeout = 10.0
    conf.broker_heartbeat_interval = 3.0
    conf.broker_commit_every = 1000
    conf.broker_commit_interval = 1.0
    # A resolve record carries a batch of candidates (up to ~512 KB): a short buffer bounds memory.
    conf.stream_buffer_maxsize = 64
    conf.table_cleanup_interval = 30.0
