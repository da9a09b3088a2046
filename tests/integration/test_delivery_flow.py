"""The delivery slice end to end: raw Odds API payload -> worker -> canonical topics -> DynamoDB and S3."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from pipeline.provision import ensure_topics
from runtime.aws import boto_client
from schemas import topics
from schemas.envelope import RawEnvelope
from sinks.archive.reader import iter_archive
from sinks.archive.writer import run_archive
from sinks.dynamodb import parse_tolerant, run_dynamodb_sink, version_sk
from tests.agents.sinks import eventually, running, sink_settings
from tests.conftest import collect, published_by
from tests.integration.test_odds_flow import odds_payload, publish

pytestmark = pytest.mark.integration


@pytest.mark.timeout(240)  # a fresh worker group first reads the shared raw topics' backlog
async def test_raw_odds_land_in_dynamodb_and_the_archive(stack, worker, unique, consumer_factory):
    """Published raw odds are normalized by the worker, stored (state and history) and archived raw and canonical."""
    settings = sink_settings(stack, unique)
    settings = settings.model_copy(update={"archive": settings.archive.model_copy(update={"flush_interval_s": 0.5})})
    ddb, s3 = boto_client(settings, "dynamodb"), boto_client(settings, "s3")
    canonical = await consumer_factory(topics.EVENTS, topics.ODDS)

    def item(pk: str, sk: str):
        return ddb.get_item(TableName=settings.aws.dynamodb_table, Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item")

    def archived(topic: str) -> list:
        start, end = datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(minutes=5)
        return [r for r in iter_archive(settings.aws.s3_bucket, topic, start, end, client=s3) if unique in str(r.value)]

    def history_key(record) -> tuple[str, str]:
        sk = version_sk(record.epoch, record.seq, int(record.timestamp.timestamp() * 1000))
        if record.type == "event":
            return f"EVENT#{record.id}", sk
        return f"ODDS#{record.event_id}#{record.bookmaker}#{record.market}", sk

    sink = lambda stop, ready: run_dynamodb_sink(settings, stop, ready=ready, auto_offset_reset="latest")  # noqa: E731
    archive = lambda stop, ready: run_archive(settings, stop, ready=ready, auto_offset_reset="latest")  # noqa: E731
    async with running(sink), running(archive):
        await publish(settings, RawEnvelope(provider="theoddsapi", feed="odds", key=unique,
                                            params={"oddsFormat": "american"}, payload=odds_payload(unique)))
        # The worker picks the canonical ids and seqs (entity resolution): read them off its output.
        messages = await collect(canonical, lambda m: published_by(m, worker)
                                 and orjson.loads(m.value).get("providerEventId") == unique, count=9,
                                 timeout=150)
        records = [parse_tolerant(m.value)[0] for m in messages]
        for record in records:
            await eventually(lambda r=record: asyncio.to_thread(item, *history_key(r)), timeout=60,
                             message=f"the history item of {record.entity_key}")
        event = next(r for r in records if r.type == "event")
        # The history rows and the current-state item are separate writes: wait for the state too.
        state = await eventually(
            lambda: asyncio.to_thread(lambda: (s := item(f"EVENT#{event.id}", "STATE"))
                                      and int(s["seq"]["N"]) >= event.seq and s),
            message=f"the state item of {event.entity_key} at seq >= {event.seq}")
        raw = await eventually(lambda: asyncio.to_thread(archived, topics.raw_topic("theoddsapi")),
                               message="the raw envelope in S3")
        odds = await eventually(lambda: asyncio.to_thread(lambda: len(archived(topics.ODDS)) >= 8 and archived(
            topics.ODDS)), message="the canonical odds in S3")
    assert int(state["seq"]["N"]) >= event.seq
    assert orjson.loads(state["record"]["S"])["homeTeam"] == f"Home {unique}"
    assert raw[0].value["payload"][0]["id"] == unique
    assert {r.value["bookmaker"] for r in odds} == {"fanduel", "draftkings", "betfair"}
    assert all(dict(r.headers).get("sf-ts-published") for r in odds)


@pytest.mark.timeout(240)
async def test_a_uof_settlement_lands_in_dynamodb_and_the_archive(stack, worker, unique, consumer_factory):
    """A raw UOF bet_settlement becomes canonical settlements, stored per market line (state and history)
    and archived, as the delivery docs say."""
    await ensure_topics(stack, [topics.SETTLEMENTS])
    settings = sink_settings(stack, unique)
    settings = settings.model_copy(update={"archive": settings.archive.model_copy(update={"flush_interval_s": 0.5})})
    ddb, s3 = boto_client(settings, "dynamodb"), boto_client(settings, "s3")
    settled = await consumer_factory(topics.SETTLEMENTS)
    urn = f"sr:match:{int(unique[:7], 16)}"
    xml = (f'<bet_settlement certainty="2" product="1" event_id="{urn}" timestamp="1736960000000"><outcomes>'
           '<market id="1"><outcome id="1" result="1"/><outcome id="2" result="0"/><outcome id="3" result="0"/>'
           '</market><market id="18" specifiers="total=2.5"><outcome id="12" result="0" void_factor="0.5"/>'
           '<outcome id="13" result="1" void_factor="0.5"/></market></outcomes></bet_settlement>')
    fixture = {"home_team": f"Home {unique}", "away_team": f"Away {unique}", "start_time": "2025-01-15T17:00:00Z",
               "sport": "soccer", "league": "Premier League"}

    def item(pk: str, sk: str):
        return ddb.get_item(TableName=settings.aws.dynamodb_table, Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item")

    def archived() -> list:
        start, end = datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(minutes=5)
        return [r for r in iter_archive(settings.aws.s3_bucket, topics.SETTLEMENTS, start, end, client=s3)
                if r.value.get("providerEventId") == urn]

    sink = lambda stop, ready: run_dynamodb_sink(settings, stop, ready=ready, auto_offset_reset="latest")  # noqa: E731
    archive = lambda stop, ready: run_archive(settings, stop, ready=ready, auto_offset_reset="latest")  # noqa: E731
    async with running(sink), running(archive):
        await publish(settings, RawEnvelope(provider="sportradar", feed="uof", key=urn, params=fixture,
                                            content_type="xml", payload=xml))
        messages = await collect(settled, lambda m: published_by(m, worker)
                                 and orjson.loads(m.value).get("providerEventId") == urn, count=2, timeout=150)
        records = [parse_tolerant(m.value)[0] for m in messages]
        for record in records:
            sk = version_sk(record.epoch, record.seq, int(record.timestamp.timestamp() * 1000))
            await eventually(lambda r=record, sk=sk: asyncio.to_thread(item, f"SETTLEMENT#{r.entity_key}", sk),
                             message=f"the history item of {record.entity_key}")
        total = next(r for r in records if r.type == "settlement" and r.market == "total")
        state = await eventually(lambda: asyncio.to_thread(item, f"SETTLEMENT#{total.event_id}",
                                                          f"S#{total.entity_key}"), message="the state item")
        stored = await eventually(lambda: asyncio.to_thread(lambda: len(archived()) >= 2 and archived()),
                                  message="the settlements in S3")
    assert state["kind"]["S"] == "result"
    wire = orjson.loads(state["record"]["S"])
    assert [(o["side"], o["result"], o["voidFactor"]) for o in wire["outcomes"]] == [
        ("over", "lost", 0.5), ("under", "won", 0.5)]
    assert wire["homeTeam"] == f"Home {unique}"
    assert {r.value["market"] for r in stored} == {"moneyline", "total"}
