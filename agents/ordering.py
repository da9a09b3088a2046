"""Per-entity versioning: dedupe, ordering, precedence/failover and corrections, as pure functions.

`decide()` takes one candidate canonical record (wire form, canonical ids already resolved), the
entity's stored state and the source it came from (`provider/feed`), and returns what to publish
(if anything) and the new state. The rules:

- **Late**: a record older (by the source's own timestamp) than one this source already gave
  us is dropped. **Repeat**: the same content from the same source is dropped.
- **Precedence**: each entity follows one source at a time, the best by configured priority.
  A better source takes over at once; a worse one only when the current source is down (feed
  status) or silent past `stale_ms` while the worse one has news (failover). A source we failed
  over from gets the entity back only after it has been delivering again for `hysteresis_ms`.
- **Monotonic**: a score or status never moves backwards, except as a *correction* from the
  source being followed, with a newer source timestamp (published with `correction: true` and
  the seq it replaces). A failed-over source that lags behind is not a correction: dropped.
- **Unchanged**: a merged result equal to what was published is not published again (a mere
  change of source is: consumers see `source` change).
- Every published version gets `seq = previous + 1`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

# Fields that say where or when a version came from, not what it says.
_META = frozenset({"seq", "timestamp", "sourceTimestamp", "provider", "source", "refs", "correction",
                   "replacesSeq", "providerEventId"})
STATUS_RANK: Mapping[str, int] = {
    "scheduled": 0, "postponed": 0, "delayed": 0,
    "live": 1, "halftime": 1, "suspended": 1,
    "final": 2, "cancelled": 2, "abandoned": 2,
}


@dataclass(frozen=True)
class Policy:
    priorities: Mapping[str, Sequence[str]]  # sport (or "default") -> ["provider" | "provider/feed", ...]
    stale_ms: int = 60_000
    hysteresis_ms: int = 30_000

    def rank(self, source: str, sport: str | None) -> int:
        order = self.priorities.get(sport or "", self.priorities.get("default", ()))
        provider = source.split("/", 1)[0]
        for i, entry in enumerate(order):
            if entry in {source, provider}:
                return i
        return len(order)


@dataclass(frozen=True)
class Decision:
    publish: dict[str, Any] | None
    state: dict[str, Any]
    reason: str  # "published", "correction", "late", "repeat", "standby", "behind", "unchanged"


def content_hash(record: Mapping[str, Any]) -> str:
    body = orjson.dumps({k: v for k, v in record.items() if k not in _META}, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(body, digest_size=12).hexdigest()


def _ms(record: Mapping[str, Any], received_ms: int) -> int:
    from schemas.timeutil import parse_iso

    text = record.get("sourceTimestamp")
    return int(parse_iso(text).timestamp() * 1000) if text else received_ms


def _merge(last: Mapping[str, Any] | None, record: dict[str, Any]) -> dict[str, Any]:
    """A source that does not know the score (e.g. an odds feed's event) does not erase it."""
    merged = dict(record)
    if last is None:
        return merged
    score = merged.get("score")
    if record.get("type") == "event" and isinstance(score, dict) and score.get("home") is None \
            and score.get("away") is None and last.get("score"):
        merged["score"] = last["score"]
    refs = dict(last.get("refs") or {})
    refs.update(record.get("refs") or {})
    if refs:
        merged["refs"] = refs
    return merged


def _regressed(last: Mapping[str, Any], merged: Mapping[str, Any]) -> bool:
    if "status" in merged and STATUS_RANK.get(merged["status"], 0) < STATUS_RANK.get(last.get("status", ""), 0):
        return True
    new, old = merged.get("score"), last.get("score")
    if isinstance(new, dict) and isinstance(old, dict):
        return any(
            new.get(side) is not None and old.get(side) is not None and new[side] < old[side]
            for side in ("home", "away")
        )
    return False


def _choose(state: dict[str, Any], source: str, received_ms: int, *, policy: Policy, sport: str | None,
            is_down: Callable[[str], bool]) -> str:
    current: str | None = state.get("source")
    if current is None or current == source:
        return source
    sources = state["sources"]
    mine, theirs = policy.rank(source, sport), policy.rank(current, sport)
    if mine < theirs:
        if state.get("failoverFrom") == source:
            since = sources[source]["since"]
            current_down = is_down(current) or received_ms - sources[current]["seen"] > policy.stale_ms
            if (received_ms - since >= policy.hysteresis_ms and not is_down(source)) or current_down:
                state["failoverFrom"] = None
                return source
            return current
        return source
    current_seen = sources.get(current, {}).get("seen", 0)
    if is_down(current) or received_ms - current_seen > policy.stale_ms:
        if policy.rank(current, sport) < mine:
            state["failoverFrom"] = current
        return source
    return current


def decide(
    record: dict[str, Any], state: dict[str, Any] | None, source: str, received_ms: int, *, policy: Policy,
    is_down: Callable[[str], bool] = lambda _source: False,
) -> Decision:
    state = {"seq": 0, "hash": None, "source": None, "ts": 0, "last": None, "failoverFrom": None,
             "sources": {}} if state is None else {**state, "sources": dict(state["sources"])}
    state["updated"] = received_ms
    ts = _ms(record, received_ms)
    digest = content_hash(record)
    seen = state["sources"].get(source)
    if seen is not None and ts < seen["ts"]:
        return Decision(None, state, "late")
    if seen is not None and digest == seen["hash"]:
        state["sources"][source] = {**seen, "seen": received_ms}
        return Decision(None, state, "repeat")
    resumed = seen is None or received_ms - seen["seen"] > policy.stale_ms
    state["sources"][source] = {"ts": ts, "hash": digest, "seen": received_ms,
                                "since": received_ms if resumed else seen["since"]}
    active = _choose(state, source, received_ms, policy=policy, sport=record.get("sport"), is_down=is_down)
    if active != source:
        return Decision(None, state, "standby")

    last = state["last"]
    merged = _merge(last, record)
    correction = False
    if last is not None and _regressed(last, merged):
        if state["source"] != source or ts <= state["ts"]:
            return Decision(None, state, "behind")
        correction = True
    merged_hash = content_hash(merged)
    if merged_hash == state["hash"] and state["source"] == source:
        return Decision(None, state, "unchanged")

    seq = state["seq"] + 1
    merged.update(seq=seq, source=source, correction=correction,
                  replacesSeq=state["seq"] if correction else None)
    state.update(seq=seq, hash=merged_hash, source=source, ts=ts, last=merged)
    return Decision(merged, state, "correction" if correction else "published")
