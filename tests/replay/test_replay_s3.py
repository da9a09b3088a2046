"""Replay a day from the S3 archive (written by the real archiver), and the archive's selection errors."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from connectors.publisher import record_headers
from pipeline.provision import ensure_topics
from runtime.aws import boto_client
from schemas import topics
from schemas.timeutil import iso_z
from sinks.archive.writer import ArchiveSink, S3Store
from tests.agents.test_archive_format import Rec
from tests.replay.support import invoke, read_all, register_provider, traffic, values

pytestmark = pytest.mark.integration

COUNT, GAMES, PARTITIONS = 2000, 40, 2


@pytest.fixture
async def archived(stack, monkeypatch, unique):
    """A day, 40 days ago (long past Kafka's retention), archived by `ArchiveSink` as `archive` would."""
    provider = register_provider(monkeypatch, unique)
    topic = topics.raw_topic(provider)
    await ensure_topics(stack, [topic])  # exists, but holds nothing of that day
    day = (datetime.now(UTC) - timedelta(days=40)).replace(hour=0, minute=0, second=0, microsecond=0)
    envelopes = traffic(provider, unique, day, count=COUNT, games=GAMES)
    s3 = boto_client(stack, "s3")
    sink = ArchiveSink(S3Store(s3, stack.aws.s3_bucket), flush_bytes=1 << 24, flush_interval_s=1e9)
    next_offset = [0] * PARTITIONS
    records = []
    for e in envelopes:
        partition = int(e.key.rsplit("g", 1)[1]) % PARTITIONS  # one game, one partition, as Kafka keys do
        records.append(Rec(topic=topic, partition=partition, offset=next_offset[partition],
                           timestamp=e.received_at_ms, key=e.key.encode(), value=e.to_json(),
                           headers=record_headers(e)))
        next_offset[partition] += 1
    await sink.write(records)
    await sink.close()
    return provider, day, s3, sink.uploaded


def window(day: datetime) -> list[str]:
    return ["--from", iso_z(day), "--to", iso_z(day + timedelta(days=1))]


async def test_day_from_the_archive_replays_and_is_idempotent(stack, archived, unique):
    """--source auto reads the archive for a range Kafka no longer holds; a second replay adds nothing."""
    provider, day, _, uploaded = archived
    assert len(uploaded) == 24 * PARTITIONS
    output = f"replay-test.{unique}"
    args = ["replay", "-p", provider, *window(day), "--output", output, "--no-progress"]

    first = await invoke(args)
    assert first.exit_code == 0, first.output
    assert f"replayed {COUNT} raw records from s3" in first.output
    assert "auto: Kafka holds no records of the range, reading the archive" in first.output
    records = values(await read_all(stack, output))
    assert int(re.search(r"published (\d+)", first.output).group(1)) == len(records) > GAMES
    assert {r["type"] for r in records} == {"event", "odds"}
    finals = [r for r in records if r["type"] == "event" and r["status"] == "final"]
    assert len({r["id"] for r in finals}) == GAMES

    second = await invoke(args)
    assert second.exit_code == 0, second.output
    assert "published 0 (nothing)" in second.output
    assert len(await read_all(stack, output)) == len(records)


async def test_dry_run_counts_archived_records(stack, archived):
    """--dry-run --source s3 counts the archived records per partition from the object names."""
    provider, day, _, _ = archived
    result = await invoke(["replay", "-p", provider, *window(day), "--source", "s3", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"would replay {COUNT} records from s3" in result.output
    assert f"raw.{provider}:0 offsets 0-{COUNT // PARTITIONS} ({COUNT // PARTITIONS} records)" in result.output


async def test_range_outside_kafka_with_source_kafka_is_a_clear_error(stack, archived):
    """Asking Kafka for a range it does not hold fails with exit 2 and publishes nothing."""
    provider, day, _, _ = archived
    result = await invoke(["replay", "-p", provider, *window(day), "--source", "kafka", "--no-progress"])
    assert result.exit_code == 2
    assert "error: empty range: Kafka has no records of" in result.output


async def test_missing_archive_object_is_a_clear_error(stack, archived, unique):
    """An object missing from the middle of a partition's run is reported with its offsets (exit 2)."""
    provider, day, s3, uploaded = archived
    victim = sorted(k for k in uploaded if "+0+" in k and "/hour=05/" in k)[0]
    s3.delete_object(Bucket=stack.aws.s3_bucket, Key=victim)
    first, last = victim.rsplit("+", 1)[1].removesuffix(".jsonl.gz").split("-")
    result = await invoke(["replay", "-p", provider, *window(day), "--output", f"replay-test.{unique}",
                           "--no-progress"])
    assert result.exit_code == 2
    assert "missing archive objects" in result.output
    assert f"{provider}:0 offsets {first}-{last}" in result.output
    assert "replayed" not in result.output


async def test_range_with_no_archive_and_no_kafka_records_is_a_clear_error(stack, archived):
    """Neither source covering the range: exit 2, naming both reasons."""
    provider, day, _, _ = archived
    empty = day - timedelta(days=3)
    result = await invoke(["replay", "-p", provider, *window(empty), "--no-progress"])
    assert result.exit_code == 2
    assert "neither source covers" in result.output
    assert "missing archive objects" in result.output
