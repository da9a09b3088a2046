"""The first vertical slice through a real Kafka broker: raw.theoddsapi -> worker -> canonical topics."""

from __future__ import annotations

import json
import shutil
import subprocess

import orjson
import pytest

from connectors.publisher import KafkaPublisher
from runtime.kafka import client_options
from schemas import topics
from schemas.envelope import RawEnvelope
from tests.conftest import IN_CI, collect, fixture_path, published_by

pytestmark = pytest.mark.integration


SAMPLE = "odds_basketball_nba_h2h_spreads_totals_american_2022-11-23.json"


def odds_payload(event_id: str) -> list[dict]:
    """The recorded sample with its own id and team names, so runs never dedupe against each other."""
    text = fixture_path("theoddsapi", SAMPLE).read_text()
    text = text.replace("Philadelphia 76ers", f"Home {event_id}").replace("Brooklyn Nets", f"Away {event_id}")
    return [dict(json.loads(text)[0], id=event_id)]


async def publish(settings, envelope: RawEnvelope) -> None:
    async with KafkaPublisher(client_options(settings)) as publisher:
        await publisher.publish([envelope])


async def test_raw_odds_are_normalized_into_canonical_odds(stack, worker, consumer_factory, unique):
    """A raw Odds API payload published to Kafka comes back as canonical odds with decimal prices."""
    consumer = await consumer_factory(topics.ODDS, topics.EVENTS)
    envelope = RawEnvelope(provider="theoddsapi", feed="odds", key=unique, params={"oddsFormat": "american"},
                           payload=odds_payload(unique))
    await publish(stack, envelope)

    records = await collect(consumer, lambda m: published_by(m, worker)
                            and orjson.loads(m.value).get("providerEventId") == unique, count=9)
    by_topic: dict[str, list[dict]] = {}
    for message in records:
        by_topic.setdefault(message.topic, []).append(orjson.loads(message.value))
    assert len(by_topic[topics.EVENTS]) == 1
    event = by_topic[topics.EVENTS][0]
    assert (event["homeTeam"], event["awayTeam"]) == (f"Home {unique}", f"Away {unique}")
    assert event["id"].startswith("sf_")
    assert event["refs"] == {"theoddsapi": unique}
    assert event["seq"] == 1
    assert event["sport"] == "basketball"
    odds = {(o["bookmaker"], o["market"]): o for o in by_topic[topics.ODDS]}
    # The sample: fanduel and draftkings x (moneyline, spread, total); betfair moneyline and its lay market.
    assert len(odds) == 8
    assert odds[("betfair", "h2h_lay")]["outcomes"]
    fanduel = odds[("fanduel", "moneyline")]
    assert fanduel["eventId"] == event["id"]
    assert fanduel["seq"] == 1
    prices = {o["side"]: o["price"] for o in fanduel["outcomes"]}
    assert prices == {"away": pytest.approx(1 + 100 / 140), "home": pytest.approx(2.10)}
    spread = {o["side"]: o["point"] for o in odds[("fanduel", "spread")]["outcomes"]}
    assert spread == {"away": -2.5, "home": 2.5}
    message = next(m for m in records if m.topic == topics.ODDS)
    stage_headers = dict(message.headers)
    assert {"sf-ts-received", "sf-ts-normalized", "sf-ts-published"} <= set(stage_headers)
    assert int(stage_headers["sf-ts-received"]) <= int(stage_headers["sf-ts-normalized"]) <= int(
        stage_headers["sf-ts-published"])


async def test_bad_payload_goes_to_deadletter_and_worker_survives(stack, worker, consumer_factory, unique):
    """A malformed payload is dead-lettered with its reason; the next good record still flows."""
    dead = await consumer_factory(topics.DEADLETTER)
    odds = await consumer_factory(topics.ODDS)
    broken = odds_payload(unique)
    broken[0]["bookmakers"][0]["markets"][0]["outcomes"][0]["price"] = "not-a-price"
    await publish(stack, RawEnvelope(provider="theoddsapi", feed="odds", key=unique, params={}, payload=broken))
    good_id = unique + "-ok"
    await publish(stack, RawEnvelope(provider="theoddsapi", feed="odds", key=good_id,
                                     params={"oddsFormat": "american"}, payload=odds_payload(good_id)))

    [letter] = await collect(dead, lambda m: unique in m.value.decode() and good_id not in m.value.decode())
    body = orjson.loads(letter.value)
    assert body["provider"] == "theoddsapi"
    assert body["feed"] == "odds"
    assert body["path"] == "$[0].bookmakers[0].markets[0].outcomes[0].price"
    assert "valid number" in body["error"]
    assert body["payload"][0]["id"] == unique
    await collect(odds, lambda m: published_by(m, worker) and orjson.loads(m.value)["providerEventId"] == good_id,
                  count=8)


async def test_garbage_bytes_are_dead_lettered(stack, worker, consumer_factory, unique):
    """Bytes that are not an envelope at all are kept, with the reason, in the dead-letter topic."""
    from aiokafka import AIOKafkaProducer

    dead = await consumer_factory(topics.DEADLETTER)
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(topics.raw_topic("theoddsapi"), value=f"garbage {unique}".encode(),
                                     key=unique.encode())
    finally:
        await producer.stop()
    [letter] = await collect(dead, lambda m: unique in m.value.decode())
    body = orjson.loads(letter.value)
    assert body["error"].startswith("malformed envelope")
    assert body["payload"] == f"garbage {unique}"


async def test_kcat_reads_canonical_odds_as_json(stack, worker, consumer_factory, unique):
    """Debian's kcat, a non-Python client, reads the canonical records as JSON."""
    kcat = shutil.which("kcat")
    if kcat is None:
        if IN_CI:
            pytest.fail("kcat is not installed (make setup installs it)")
        pytest.skip("kcat is not installed")
    odds = await consumer_factory(topics.ODDS)
    await publish(stack, RawEnvelope(provider="theoddsapi", feed="odds", key=unique,
                                     params={"oddsFormat": "american"}, payload=odds_payload(unique)))
    await collect(odds, lambda m: published_by(m, worker) and orjson.loads(m.value)["providerEventId"] == unique,
                  count=8)
    result = subprocess.run(
        [kcat, "-b", stack.kafka.bootstrap_servers, "-C", "-t", topics.ODDS, "-o", "beginning", "-e", "-J", "-q"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    mine = [json.loads(rec["payload"]) for rec in lines
            if unique in (rec.get("payload") or "") and (rec.get("headers") or []).count(worker) > 0]
    assert len(mine) == 8
    assert all(r["type"] == "odds" and r["providerEventId"] == unique for r in mine)
    assert {r["bookmaker"] for r in mine} == {"fanduel", "draftkings", "betfair"}
