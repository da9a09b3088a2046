"""Create the Kafka topics, DynamoDB table and S3 bucket Sportsflow needs (idempotent, `stack up`)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from botocore.exceptions import ClientError

from runtime.aws import (
    TABLE_GSI,
    TABLE_GSI_DAY,
    TABLE_GSI_DAY_PARTITION_KEY,
    TABLE_GSI_PARTITION_KEY,
    TABLE_GSI_SORT_KEY,
    TABLE_PARTITION_KEY,
    TABLE_SORT_KEY,
    TABLE_TTL_ATTRIBUTE,
    boto_client,
)
from runtime.kafka import client_options
from runtime.settings import Settings
from schemas import topics
from schemas.providers import providers

# Raw records carry the broker's append time: stage 1 orders the raw topics by it, and a replay merges them by
# it (agents/aligned.py says why producer times were not enough).
APPEND_TIME = {"message.timestamp.type": "LogAppendTime"}
DYNAMIC_TOPIC_CONFIG = 1  # a describe_configs entry's config_source: set on the topic itself
log = logging.getLogger(__name__)


def all_topics() -> list[str]:

    return [*topics.CANONICAL_TOPICS, topics.DEADLETTER, topics.UNMATCHED, topics.DISCREPANCIES,
            topics.REFERENCE_TEAMS, *(topics.raw_topic(p) for p in providers())]


async def ensure_topics(settings: Settings, names: list[str] | None = None, partitions: int | None = None) -> None:

    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        names = names or all_topics()
        existing = set(await admin.list_topics())
        await _append_time_on_raw(admin, [n for n in names if n in existing])
        wanted = [n for n in names if n not in existing]
        if not wanted:
            return
        retention_ms = str(settings.kafka.raw_retention_hours * 3600 * 1000)
        new = [
            NewTopic(name, partitions or settings.kafka.topic_partitions, settings.kafka.topic_replication,
                     topic_configs=_topic_config(name, retention_ms))
            for name in wanted
        ]
        response = await admin.create_topics(new)
        for name, code, message in getattr(response, "topic_errors", []):
            if code not in (0, 36):  # 36 = TOPIC_ALREADY_EXISTS: a concurrent creator won the race
                raise RuntimeError(f"creating topic {name} failed: error {code} {message}")
    finally:
        await admin.close()


async def _append_time_on_raw(admin: AIOKafkaAdminClient, names: list[str]) -> None:
    """Raw topics made before their records carried the append time get it (new records only: Kafka keeps
    what is stored). AlterConfigs replaces a topic's own settings, so the ones it has are sent along."""
    raw = [ConfigResource(ConfigResourceType.TOPIC, n) for n in names if n.startswith(topics.RAW_PREFIX)]
    if not raw:
        return
    changes = []
    refused: dict[str, str] = {}
    for response in await admin.describe_configs(raw):
        for resource in response.to_object()["resources"]:
            if resource["error_code"] != 0:
                refused[resource["resource_name"]] = resource["error_message"] or str(resource["error_code"])
                continue
            entries = {e["config_names"]: e for e in resource["config_entries"]}
            kind = entries.get("message.timestamp.type", {}).get("config_value")
            if kind == APPEND_TIME["message.timestamp.type"]:
                continue
            own = {k: e["config_value"] for k, e in entries.items() if e["config_source"] == DYNAMIC_TOPIC_CONFIG}
            changes.append(ConfigResource(ConfigResourceType.TOPIC, resource["resource_name"], {**own, **APPEND_TIME}))
    for response in await admin.alter_configs(changes) if changes else []:
        for resource in response.to_object()["resources"]:
            if resource["error_code"] != 0:
                refused[resource["resource_name"]] = resource["error_message"] or str(resource["error_code"])
    if refused:  # not fatal: the stream runs as before, with the order a replay may not reproduce
        log.warning("could not switch raw topics to the broker's append time: %s. Until they are "
                    "(message.timestamp.type=LogAppendTime; on MSK the role needs "
                    "kafka-cluster:AlterTopicDynamicConfiguration), a replay may order two providers' updates "
                    "differently from the worker", "; ".join(f"{name} ({why})" for name, why in refused.items()))
    switched = [c.name for c in changes if c.name not in refused]
    if switched:
        log.info("raw topics now stamped with the broker's append time: %s", " ".join(switched))


def _topic_config(name: str, raw_retention_ms: str) -> dict[str, str]:
    if name in topics.COMPACTED:
        return {"cleanup.policy": "compact"}  # the latest record per key, kept forever
    if name.startswith(topics.RAW_PREFIX):
        return {"retention.ms": raw_retention_ms, **APPEND_TIME}
    return {}


def _gsi(name: str, partition_key: str) -> dict[str, Any]:
    return {
        "IndexName": name,
        "KeySchema": [
            {"AttributeName": partition_key, "KeyType": "HASH"},
            {"AttributeName": TABLE_GSI_SORT_KEY, "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }


def ensure_table(settings: Settings) -> None:
    """The table with both start-day indexes; a table made before gsi2 existed gets it added."""
    client = boto_client(settings, "dynamodb")
    name = settings.aws.dynamodb_table
    if name in client.list_tables().get("TableNames", []):
        indexes = client.describe_table(TableName=name)["Table"].get("GlobalSecondaryIndexes", [])
        if TABLE_GSI_DAY not in {index["IndexName"] for index in indexes}:
            client.update_table(
                TableName=name,
                AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"}
                                      for a in (TABLE_GSI_DAY_PARTITION_KEY, TABLE_GSI_SORT_KEY)],
                GlobalSecondaryIndexUpdates=[{"Create": _gsi(TABLE_GSI_DAY, TABLE_GSI_DAY_PARTITION_KEY)}],
            )
        return
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": a, "AttributeType": "S"}
            for a in (TABLE_PARTITION_KEY, TABLE_SORT_KEY, TABLE_GSI_PARTITION_KEY, TABLE_GSI_SORT_KEY,
                      TABLE_GSI_DAY_PARTITION_KEY)
        ],
        KeySchema=[
            {"AttributeName": TABLE_PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": TABLE_SORT_KEY, "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[_gsi(TABLE_GSI, TABLE_GSI_PARTITION_KEY),
                                _gsi(TABLE_GSI_DAY, TABLE_GSI_DAY_PARTITION_KEY)],
    )
    client.get_waiter("table_exists").wait(TableName=name)
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TABLE_TTL_ATTRIBUTE}
    )


def ensure_bucket(settings: Settings) -> None:

    client = boto_client(settings, "s3")
    try:
        client.head_bucket(Bucket=settings.aws.s3_bucket)
    except ClientError:
        client.create_bucket(Bucket=settings.aws.s3_bucket)


async def provision(settings: Settings) -> None:

    await ensure_topics(settings)
    await asyncio.to_thread(ensure_table, settings)
    await asyncio.to_thread(ensure_bucket, settings)
