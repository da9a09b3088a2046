"""The WebSocket feed's wire protocol, without I/O: client messages in, frames out.

Client -> server (JSON text messages; any of them may carry `"token"` instead of the query):

    {"action": "subscribe", "subscriptions": ["live_scores", "betting_odds"],
     "filters": {"sport": [...], "league": [...], "eventIds": [...], "bookmakers": [...]}}
    {"action": "unsubscribe", "subscriptions": ["betting_odds"]}
    {"action": "resume", "subscriptions": [...], "filters": {...},
     "cursor": {"canonical.events:0": 1234, ...}, "lastSeq": {"<entityKey>": 7, ...}}
    {"action": "auth", "token": "<jwt>"}          (also: refresh a token on a live connection)
    {"action": "ping"}

Server -> client:

    data      the canonical record's JSON plus "channel", "cursor" ("<topic>:<partition>:<offset>") and
              "stages" (epoch ms: "provider" update time, "received" by the connector, "published" by the worker, "hub":
              read by this broadcaster, "sent": fanned out to its clients; each when known; frames of a
              snapshot or a resume keep the stamps of the record's live fan-out)
    {"type": "subscribed", "subscriptions": [...]}     then the snapshot, then:
    {"type": "synced", "cursor": {"<topic>:<partition>": offset, ...}}   (live deltas follow)
    {"type": "resumed", "recovered": true, "replayed": N}               then N frames, then "synced"
    {"type": "resumed", "recovered": false}                             then a snapshot, then "synced"
    {"type": "unsubscribed", "subscriptions": [...]}, {"type": "authenticated", ...}, {"type": "pong"}

A client keeps, per topic-partition, the highest offset of any frame it received (and merges
the "synced" cursor in); on reconnect it sends that map in a `resume` to receive exactly what
it missed. Cursors are Kafka coordinates, so they are valid on every broadcaster process.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from schemas.errors import SportsflowError
from schemas.timeutil import parse_iso
from schemas.topics import CHANNEL_BY_TOPIC

CHANNELS: Final = frozenset(CHANNEL_BY_TOPIC.values())
# Channels whose records are states: a client that falls behind receives only the latest per entity.
CONFLATING_CHANNELS: Final = frozenset({"live_scores", "betting_odds", "feed_status"})

CLOSE_GOING_AWAY: Final = 1001
CLOSE_BAD_MESSAGE: Final = 4400
CLOSE_UNAUTHENTICATED: Final = 4401
CLOSE_FORBIDDEN: Final = 4403
CLOSE_SLOW: Final = 4008
CLOSE_TOO_MANY_MESSAGES: Final = 4029
CLOSE_AT_CAPACITY: Final = 1013  # RFC 6455 "try again later"

MAX_FILTER_VALUES: Final = 1000
MAX_RESUME_ENTRIES: Final = 10_000


class ProtocolError(SportsflowError):
    """A client message we cannot accept (closes the connection with 4400 and this reason)."""


@dataclass(frozen=True, slots=True)
class Item:
    """One canonical record as the hub sees it: routing attributes and its frame, encoded once."""

    channel: str
    key: str
    seq: int
    tp: str  # "<topic>:<partition>"
    offset: int
    ts_ms: int  # the Kafka timestamp: identical on every broadcaster process
    frame: bytes
    sport: str | None = None
    league: str | None = None
    event_id: str | None = None
    bookmaker: str | None = None
    slot: str = field(default="", compare=False)  # conflation slot: channel|key
    epoch: int = 0  # the version is (epoch, seq): see schemas/canonical.py
    data_ts: str | None = None  # the record's `timestamp`: orders versions of different epochs

    def supersedes(self, other: Item) -> bool:
        """This version is newer than `other` (same entity): by seq within an epoch, else by record time."""
        if self.epoch == other.epoch:
            return self.seq > other.seq
        if self.data_ts is None or other.data_ts is None:
            return self.epoch > other.epoch
        mine, theirs = parse_iso(self.data_ts), parse_iso(other.data_ts)
        return mine > theirs or (mine == theirs and self.epoch > other.epoch)

    @property
    def conflates(self) -> bool:
        return self.channel in CONFLATING_CHANNELS


def make_item(value: bytes, *, channel: str, topic: str, partition: int, offset: int, ts_ms: int,
              key: bytes | None, stages: Mapping[str, int] | None = None) -> Item:
    """Decode the routing fields once and build the frame once: the record plus channel and cursor.

    `stages` (epoch ms per pipeline stage, from the record's Kafka headers) goes into the frame as
    `"stages"`, so a client can split latency into the provider's share and the engine's.
    """
    record: dict[str, Any] = orjson.loads(value)
    if not isinstance(record, dict) or value[:1] != b"{":
        raise ValueError("a canonical record is a JSON object")
    tp = f"{topic}:{partition}"
    head = b'{"channel":"' + channel.encode() + b'","cursor":"' + f"{tp}:{offset}".encode() + b'"'
    if stages:
        head += b',"stages":' + orjson.dumps(stages)
    frame = head + (b"," + value[1:] if record else b"}")
    kind = record.get("type")
    event_id = record.get("eventId") or (record.get("id") if kind in ("event", "race_result") else None)
    entity = key.decode() if key else str(record.get("id", ""))
    seq, epoch, data_ts = record.get("seq"), record.get("epoch"), record.get("timestamp")
    return Item(
        channel=channel, key=entity, seq=seq if isinstance(seq, int) else 0, tp=tp, offset=offset, ts_ms=ts_ms,
        frame=frame, sport=record.get("sport"), league=record.get("league") or record.get("series"),
        event_id=event_id, bookmaker=record.get("bookmaker"), slot=f"{channel}|{entity}",
        epoch=epoch if isinstance(epoch, int) else 0, data_ts=data_ts if isinstance(data_ts, str) else None,
    )


@dataclass(frozen=True, slots=True)
class Filters:
    """What a client wants of one channel; an empty set means "any"."""

    sports: frozenset[str] = frozenset()
    leagues: frozenset[str] = frozenset()
    event_ids: frozenset[str] = frozenset()
    bookmakers: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not (self.sports or self.leagues or self.event_ids or self.bookmakers)

    def match(self, item: Item) -> bool:
        return (
            (not self.sports or item.sport in self.sports)
            and (not self.leagues or item.league in self.leagues)
            and (not self.event_ids or item.event_id in self.event_ids)
            and (not self.bookmakers or item.bookmaker is None or item.bookmaker in self.bookmakers)
        )


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed client message."""

    action: str  # subscribe, unsubscribe, resume, auth, ping
    channels: tuple[str, ...] = ()
    filters: Filters = Filters()
    token: str | None = None
    cursor: dict[str, int] | None = None
    last_seq: dict[str, int] | None = None


ACTIONS: Final = frozenset({"subscribe", "unsubscribe", "resume", "auth", "ping"})


def _strings(raw: dict[str, Any], *names: str) -> frozenset[str]:
    for name in names:
        if name in raw:
            value = raw[name]
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
                raise ProtocolError(f"filter {name} must be a string or a list of strings")
            if len(items) > MAX_FILTER_VALUES:
                raise ProtocolError(f"filter {name} has more than {MAX_FILTER_VALUES} values")
            return frozenset(items)
    return frozenset()


def parse_filters(raw: Any) -> Filters:
    if raw is None:
        return Filters()
    if not isinstance(raw, dict):
        raise ProtocolError("filters must be an object")
    return Filters(_strings(raw, "sport", "sports"), _strings(raw, "league", "leagues"),
                   _strings(raw, "eventIds", "eventId"), _strings(raw, "bookmakers", "bookmaker"))


def _offsets(raw: Any, name: str) -> dict[str, int] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or len(raw) > MAX_RESUME_ENTRIES:
        raise ProtocolError(f"{name} must be an object of at most {MAX_RESUME_ENTRIES} entries")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= -1 for v in raw.values()):
        raise ProtocolError(f"{name} values must be integers")
    return dict(raw)


def parse_message(text: str | bytes) -> Command:
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ProtocolError("message is not JSON") from None
    if not isinstance(message, dict) or message.get("action") not in ACTIONS:
        raise ProtocolError(f'message must be an object with an "action" in {sorted(ACTIONS)}')
    subs = message.get("subscriptions", [])
    if not isinstance(subs, list) or not all(isinstance(s, str) for s in subs):
        raise ProtocolError("subscriptions must be a list of channel names")
    unknown = sorted(set(subs) - CHANNELS)
    if unknown:
        raise ProtocolError(f"unknown channel(s): {', '.join(unknown)}")
    token = message.get("token")
    if token is not None and not isinstance(token, str):
        raise ProtocolError("token must be a string")
    command = Command(
        action=message["action"], channels=tuple(dict.fromkeys(subs)), filters=parse_filters(message.get("filters")),
        token=token, cursor=_offsets(message.get("cursor"), "cursor"),
        last_seq=_offsets(message.get("lastSeq"), "lastSeq"),
    )
    if command.action == "resume" and command.cursor is None and command.last_seq is None:
        raise ProtocolError('resume needs a "cursor" or a "lastSeq"')
    return command


def control(kind: str, **fields: Any) -> bytes:
    """A control frame (acknowledgements, sync markers): `{"type": kind, ...}`."""
    # A copy: orjson's result keeps its whole ~4 KB output buffer allocated, and control frames may
    # wait in an outbox by the thousand.
    return bytes(memoryview(orjson.dumps({"type": kind, **fields})))
