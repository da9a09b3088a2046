"""Map Sportsflow settings onto Faust's configuration."""

from __future__ import annotations

from typing import Any

from pipeline.settings import Settings


def broker_urls(settings: Settings) -> list[str]:
    return [f"kafka://{hostport.strip()}" for hostport in settings.kafka.bootstrap_servers.split(",")]


def credentials(settings: Settings) -> Any:
    import ssl

    from faust.auth import OAuthCredentials, SSLCredentials

    mode = settings.kafka.security
    if mode == "plaintext":
        return None
    if mode == "tls":
        return SSLCredentials(ssl.create_default_context())
    from pipeline.kafka_clients import client_options

    return OAuthCredentials(
        oauth_cb=client_options(settings)["sasl_oauth_token_provider"], ssl_context=ssl.create_default_context()
    )


def apply_settings(conf: Any, settings: Settings) -> None:
    processing = settings.processing
    conf.id = processing.app_id
    # Faust keeps per-app files in its datadir; keep them out of the working directory.
    (settings.stack.home / "faust").mkdir(parents=True, exist_ok=True)
    conf.datadir = str(settings.stack.home / "faust" / "{conf.id}-data")
    conf.broker = broker_urls(settings)
    conf.broker_credentials = credentials(settings)
    conf.topic_partitions = settings.kafka.topic_partitions
    conf.topic_replication_factor = settings.kafka.topic_replication
    conf.web_port = processing.web_port
    conf.web_host = "127.0.0.1" if settings.environment == "local" else "0.0.0.0"
    conf.web_bind = conf.web_host
    conf.consumer_auto_offset_reset = "earliest"  # a new group must not skip records produced before it
    conf.producer_acks = -1
    conf.producer_linger = 0.0  # latency first; batching happens naturally under load
    conf.broker_commit_every = 1000
    conf.broker_commit_interval = 1.0
    conf.stream_buffer_maxsize = 4096
    conf.table_cleanup_interval = 30.0
