"""The hub and its resume rings, without I/O: records in, outbox frames out."""

from __future__ import annotations

import gc
import weakref

import orjson
import pytest

from sinks.websocket.hub import FRAME_OVERHEAD, ClientQueue, Hub
from sinks.websocket.protocol import Filters, Item, control, make_item
from sinks.websocket.resume import PartitionRing

EVENTS = "canonical.events"
ODDS = "canonical.odds"
RACES = "canonical.race_results"


class Log:
    """Builds records at increasing offsets per partition, as Kafka would."""

    def __init__(self) -> None:
        self.offsets: dict[tuple[str, int], int] = {}
        self.ts = 1_000

    def event(self, event_id: str, seq: int, *, partition: int = 0, sport: str = "soccer", home: int = 0,
              epoch: int = 0, timestamp: str | None = None) -> Item:
        record = {"type": "event", "id": event_id, "seq": seq, "sport": sport, "league": "EPL",
                  "homeTeam": "H", "awayTeam": "A", "score": {"home": home, "away": 0}, "status": "live",
                  "epoch": epoch, **({"timestamp": timestamp} if timestamp else {})}
        return self._item("live_scores", EVENTS, partition, event_id, record)

    def odds(self, event_id: str, bookmaker: str, seq: int, *, partition: int = 0) -> Item:
        key = f"{event_id}|{bookmaker}|moneyline"
        record = {"type": "odds", "eventId": event_id, "bookmaker": bookmaker, "market": "moneyline", "seq": seq,
                  "sport": "soccer", "outcomes": [{"side": "home", "price": 1.5 + seq / 100}]}
        return self._item("betting_odds", ODDS, partition, key, record)

    def race(self, race_id: str, seq: int) -> Item:
        record = {"type": "race_result", "id": race_id, "seq": seq, "series": "F1", "results": []}
        return self._item("race_results", RACES, 0, race_id, record)

    def _item(self, channel: str, topic: str, partition: int, key: str, record: dict) -> Item:
        offset = self.offsets.get((topic, partition), 0)
        self.offsets[(topic, partition)] = offset + 1
        self.ts += 1
        return make_item(orjson.dumps(record), channel=channel, topic=topic, partition=partition, offset=offset,
                         ts_ms=self.ts, key=key.encode())


def frames(client: ClientQueue) -> list[dict]:
    out = []
    while (frame := client.pop()) is not None:
        out.append(orjson.loads(frame))
    return out


ANY = Filters()


def subscribed(hub: Hub, *channels: str, filters: Filters = ANY, limit: int = 100) -> ClientQueue:
    client = ClientQueue(limit)
    hub.attach(client)
    hub.subscribe(client, channels, filters)
    return client


def test_frame_is_the_record_plus_channel_and_cursor():
    """A frame is encoded once: the canonical JSON with channel and Kafka coordinates in front."""
    item = Log().event("e1", 3)
    frame = orjson.loads(item.frame)
    assert frame["channel"] == "live_scores"
    assert frame["cursor"] == "canonical.events:0:0"
    assert (frame["id"], frame["seq"], frame["homeTeam"]) == ("e1", 3, "H")
    assert (item.key, item.event_id, item.tp) == ("e1", "e1", "canonical.events:0")


def test_publish_reaches_matching_subscribers_only():
    """Filters on sport, event id and bookmaker select what each client receives."""
    log, hub = Log(), Hub()
    everything = subscribed(hub, "live_scores", "betting_odds")
    tennis = subscribed(hub, "live_scores", filters=Filters(sports=frozenset({"tennis"})))
    one_event = subscribed(hub, "betting_odds", filters=Filters(event_ids=frozenset({"e2"}),
                                                               bookmakers=frozenset({"pinnacle"})))
    for item in (log.event("e1", 1), log.odds("e2", "pinnacle", 1), log.odds("e2", "bet365", 1),
                 log.event("t1", 1, sport="tennis")):
        hub.publish(item)
    assert [f.get("id") or f["bookmaker"] for f in frames(everything)] == ["e1", "pinnacle", "bet365", "t1"]
    assert [f["id"] for f in frames(tennis)] == ["t1"]
    assert [(f["eventId"], f["bookmaker"]) for f in frames(one_event)] == [("e2", "pinnacle")]


def test_redelivered_or_older_seq_is_dropped():
    """A record whose seq is not newer than the entity's current seq never reaches clients twice."""
    log, hub = Log(), Hub()
    client = subscribed(hub, "live_scores")
    received = []
    for seq, accepted in ((1, True), (2, True), (2, False), (1, False)):  # 2, 1 again: redelivered
        assert hub.publish(log.event("e1", seq)) is accepted
        received += frames(client)
    assert [f["seq"] for f in received] == [1, 2]
    assert hub.stats()["duplicates"] == 2


def test_seq_may_restart_after_the_entity_ttl():
    """An entity silent longer than the worker's state TTL restarts at seq 1 and is accepted."""
    log, hub = Log(), Hub(entity_ttl_s=5)
    hub.publish(log.event("e1", 7))
    log.ts += 10_000
    assert hub.publish(log.event("e1", 1))


def test_a_new_lineage_or_a_backfill_reaches_clients_once_and_only_newer_data_becomes_the_snapshot():
    """Another epoch is not a redelivery: delivered once. A backfill (older record time) stays out of the
    snapshot; a new lineage with newer data replaces it."""
    log, hub = Log(), Hub()
    client = subscribed(hub, "live_scores")
    live = log.event("e1", 5, home=5, epoch=100, timestamp="2026-01-01T20:00:00Z")
    backfill = log.event("e1", 1, home=4, epoch=200, timestamp="2026-01-01T19:00:00Z")
    assert hub.publish(live)
    assert hub.publish(backfill)
    assert not hub.publish(log.event("e1", 1, home=4, epoch=200, timestamp="2026-01-01T19:00:00Z"))  # again
    assert [(f["epoch"], f["seq"]) for f in frames(client)] == [(100, 5), (200, 1)]
    assert hub.state["live_scores"]["e1"].epoch == 100
    assert hub.publish(log.event("e1", 1, home=6, epoch=300, timestamp="2026-01-01T21:00:00Z"))
    assert hub.state["live_scores"]["e1"].epoch == 300


def test_snapshot_on_subscribe_is_the_latest_state_of_matching_entities():
    """A new subscriber first receives the latest version of each matching entity."""
    log, hub = Log(), Hub()
    for item in (log.event("e1", 1), log.event("e1", 2, home=1), log.event("e2", 1), log.odds("e1", "bk", 1)):
        hub.publish(item)
    client = subscribed(hub, "live_scores")
    assert sorted((f["id"], f["seq"]) for f in frames(client)) == [("e1", 2), ("e2", 1)]
    filtered = subscribed(hub, "betting_odds", "live_scores", filters=Filters(event_ids=frozenset({"e1"})))
    assert sorted((f["channel"], f["seq"]) for f in frames(filtered)) == [("betting_odds", 1), ("live_scores", 2)]


def test_unsubscribe_stops_delivery():
    """After unsubscribe, a channel's records no longer reach the client."""
    log, hub = Log(), Hub()
    client = subscribed(hub, "live_scores", "betting_odds")
    hub.unsubscribe(client, ["live_scores"])
    hub.publish(log.event("e1", 1))
    hub.publish(log.odds("e1", "bk", 1))
    assert [f["channel"] for f in frames(client)] == ["betting_odds"]


def test_backlogged_client_is_conflated_to_the_latest_state_per_entity():
    """Versions of one entity pending in the outbox collapse to the newest, in arrival order."""
    log, hub = Log(), Hub()
    client = subscribed(hub, "live_scores", "race_results", limit=10)
    for seq in (1, 2, 3):
        hub.publish(log.event("e1", seq))
    hub.publish(log.event("e2", 1))
    hub.publish(log.event("e1", 4))
    hub.publish(log.race("r1", 1))
    hub.publish(log.race("r1", 2))  # race results are not conflated
    assert not client.check_slow()
    assert [(f["id"], f["seq"]) for f in frames(client)] == [("e2", 1), ("e1", 4), ("r1", 1), ("r1", 2)]
    assert hub.stats()["conflated"] == 3


def test_client_still_over_its_bound_is_slow_and_others_are_unaffected():
    """A client over its bound after conflation is slow; another client still gets every frame."""
    log, hub = Log(), Hub()
    slow = subscribed(hub, "live_scores", limit=3)
    fine = subscribed(hub, "live_scores", limit=3)
    for n in range(5):
        hub.publish(log.event(f"e{n}", 1))
        assert len(frames(fine)) == 1  # this one keeps reading
    assert slow.check_slow()
    hub.detach(slow)
    hub.publish(log.event("e9", 1))
    assert len(frames(fine)) == 1
    assert hub.stats()["dropped_slow"] == 1
    assert hub.stats()["clients"] == 1


def test_snapshot_does_not_count_against_the_bound():
    """A snapshot larger than the outbox bound does not make a new subscriber slow."""
    log, hub = Log(), Hub()
    for n in range(50):
        hub.publish(log.event(f"e{n}", 1))
    client = subscribed(hub, "live_scores", limit=5)
    assert not client.check_slow()
    assert len(frames(client)) == 50


def test_resume_by_cursor_replays_exactly_what_was_missed():
    """A client resuming from its offsets receives the frames after them, in order, filtered."""
    log, hub = Log(), Hub()
    hub.track("canonical.events:0", "live_scores", 0)
    hub.track("canonical.events:1", "live_scores", 0)
    hub.publish(log.event("e1", 1))
    hub.publish(log.event("e2", 1, partition=1))
    cursor = hub.cursor(["live_scores"])
    assert cursor == {"canonical.events:0": 0, "canonical.events:1": 0}
    missed = [log.event("e1", 2), log.event("e2", 2, partition=1), log.event("x", 1), log.event("e1", 3)]
    for item in missed:
        hub.publish(item)
    client = ClientQueue(10)
    hub.attach(client)
    only = Filters(event_ids=frozenset({"e1", "e2"}))
    plan = hub.plan_resume(client, ["live_scores"], only, cursor, None)
    assert plan.recovered
    assert hub.resume(client, ["live_scores"], only, plan) == 3
    assert [(f["id"], f["seq"]) for f in frames(client)] == [("e1", 2), ("e2", 2), ("e1", 3)]
    hub.publish(log.event("e1", 4))
    assert [f["seq"] for f in frames(client)] == [4]


def test_resume_beyond_the_ring_is_not_recovered():
    """When the ring no longer reaches back to the client's offset, the answer is recovered=False."""
    log, hub = Log(), Hub(ring_size=3)
    hub.track("canonical.events:0", "live_scores", 0)
    hub.publish(log.event("e1", 1))
    cursor = hub.cursor(["live_scores"])
    for seq in range(2, 7):
        hub.publish(log.event("e1", seq))
    plan = hub.plan_resume(ClientQueue(10), ["live_scores"], Filters(), cursor, None)
    assert not plan.recovered
    assert hub.stats()["resumes"] == {"recovered": 0, "unrecovered": 1}


def test_resume_without_a_partition_in_the_cursor_is_not_recovered():
    """A cursor that does not mention a partition of the channel cannot prove there is no gap."""
    log, hub = Log(), Hub()
    hub.track("canonical.events:0", "live_scores", 0)
    hub.track("canonical.events:1", "live_scores", 0)
    hub.publish(log.event("e1", 1))
    plan = hub.plan_resume(ClientQueue(10), ["live_scores"], Filters(), {"canonical.events:0": 0}, None)
    assert not plan.recovered


def test_resume_on_a_process_that_is_behind_skips_what_the_client_already_has():
    """A client ahead of this process (it came from a faster one) does not get those frames twice."""
    log, hub = Log(), Hub()
    hub.track("canonical.events:0", "live_scores", 0)
    hub.publish(log.event("e1", 1))
    client = ClientQueue(10)
    hub.attach(client)
    plan = hub.plan_resume(client, ["live_scores"], Filters(), {"canonical.events:0": 2}, None)
    assert plan.recovered
    assert plan.skip == {"canonical.events:0": 2}
    hub.resume(client, ["live_scores"], Filters(), plan)
    hub.publish(log.event("e1", 2))  # offset 1: the client had it
    hub.publish(log.event("e1", 3))  # offset 2: the client had it
    hub.publish(log.event("e1", 4))
    assert [f["seq"] for f in frames(client)] == [4]


def test_resume_by_last_seq_per_entity():
    """With lastSeq only, each entity's versions after the client's seq are replayed."""
    log, hub = Log(), Hub()
    hub.track("canonical.events:0", "live_scores", 0)
    for item in (log.event("e1", 1), log.event("e2", 1), log.event("e1", 2), log.event("e1", 3), log.event("e3", 1)):
        hub.publish(item)
    client = ClientQueue(10)
    hub.attach(client)
    plan = hub.plan_resume(client, ["live_scores"], Filters(), None, {"e1": 1, "e2": 1})
    assert plan.recovered
    assert [(i.key, i.seq) for i in plan.items] == [("e1", 2), ("e1", 3), ("e3", 1)]


def test_resume_by_last_seq_with_a_gap_is_not_recovered():
    """If an entity's missed versions are no longer all in the ring, resnapshot."""
    log, hub = Log(), Hub(ring_size=2)
    hub.track("canonical.events:0", "live_scores", 0)
    for seq in range(1, 6):
        hub.publish(log.event("e1", seq))
    plan = hub.plan_resume(ClientQueue(10), ["live_scores"], Filters(), None, {"e1": 2})
    assert not plan.recovered


def test_scopes_are_enforced_by_the_hub():
    """A client cannot subscribe to a channel its token does not grant."""
    hub = Hub()
    client = ClientQueue(10, allowed={"live_scores"})
    hub.attach(client)
    with pytest.raises(PermissionError):
        hub.subscribe(client, ["betting_odds"], Filters())


def test_ring_tracks_what_it_covers():
    """A ring covers offsets from its start, and from one past its last eviction."""
    ring = PartitionRing("t:0", "live_scores", capacity=2, start=10)
    log = Log()
    assert ring.covers(9)
    assert not ring.covers(8)
    items = [log.event("e", n) for n in range(4)]
    for offset, item in zip(range(10, 14), items, strict=True):
        ring.append(Item(**{**{f: getattr(item, f) for f in item.__slots__}, "offset": offset}))
    assert [i.offset for i in ring.items()] == [12, 13]
    assert ring.covers(11)
    assert not ring.covers(10)
    assert [i.offset for i in ring.after(12)] == [13]


def test_every_queued_byte_counts_control_frames_included():
    """Acks, snapshot and live frames all count against the byte budget; popping gives the bytes back."""
    log, hub = Log(), Hub()
    for n in range(20):
        hub.publish(log.event(f"e{n}", 1))
    client = ClientQueue(1000, max_bytes=50_000)
    hub.attach(client)
    hub.subscribe(client, ["live_scores"], ANY)
    snapshot_bytes = client.queued_bytes
    assert snapshot_bytes == sum(len(f) + FRAME_OVERHEAD for f in client.outbox.values())
    ack = control("unsubscribed", subscriptions=[])
    while not client.check_slow():  # a client that sends and never reads
        client.send_now(ack)
    assert client.slow
    assert 50_000 < client.queued_bytes <= 50_000 + len(ack) + FRAME_OVERHEAD
    client.discard()
    assert client.queued_bytes == 0


def test_conflation_replaces_bytes_instead_of_adding_them():
    """A newer state of an entity replaces the older frame's bytes; popping everything leaves zero."""
    log, hub = Log(), Hub()
    client = subscribed(hub, "live_scores")
    for seq in range(1, 50):
        hub.publish(log.event("e1", seq))
    assert len(client) == 1
    assert client.queued_bytes == len(next(iter(client.outbox.values()))) + FRAME_OVERHEAD
    frames(client)
    assert client.queued_bytes == 0


def test_a_snapshot_over_the_budget_stops_being_copied():
    """Subscribing to more state than the budget holds marks the client slow without queueing it all."""
    log, hub = Log(), Hub()
    for n in range(500):
        hub.publish(log.event(f"e{n}", 1))
    client = ClientQueue(1000, max_bytes=10_000)
    hub.attach(client)
    hub.subscribe(client, ["live_scores"], ANY)
    assert client.slow
    assert len(client) < 100


def test_detached_client_is_freed_without_a_garbage_collection():
    """A client whose server object points back at it (a cycle) is freed by detach, with the GC off."""
    log, hub = Log(), Hub()

    class Server:  # what the broadcaster's Session is to its queue
        def __init__(self) -> None:
            self.queue = ClientQueue(100, on_ready=self.flush)

        def flush(self) -> None:
            pass

    server = Server()
    hub.attach(server.queue)
    hub.subscribe(server.queue, ["live_scores"], ANY)
    for n in range(10):
        hub.publish(log.event(f"e{n}", 1))
    queue_ref, server_ref = weakref.ref(server.queue), weakref.ref(server)
    gc.disable()
    try:
        hub.detach(server.queue)
        del server
        assert server_ref() is None
        assert queue_ref() is None
    finally:
        gc.enable()
