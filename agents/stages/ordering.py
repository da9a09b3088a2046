"""Per-entity versioning: dedupe, per-group precedence, freshness, corrections, as pure functions.

`decide()` takes one candidate canonical record (wire form, canonical ids already resolved), the
entity's stored state and the source it came from (`provider/feed`), and returns what to publish
(if anything) and the new state. The rules:

- **Late**: a record older (by the source's own timestamp) than one this source already gave
  us is dropped. **Repeat**: the same content from the same source is dropped.
- **Precedence per field group** (`agents/stages/precedence.py`): each group (an event's live score and
  status; its fixture data; an odds entity's prices) follows the best source that carries it. A
  better carrier takes over at once; a worse one only when the followed one is down or silent
  past `stale_ms` *for that group*; a source we failed over from gets the group back after
  delivering again for `hysteresis_ms`. A source that lacks a group never takes it over.
- **Freshness**: forward progress (a score that only moves forward, a status that advances)
  first reported by another matched source is published at once, with that source in the
  record's `provenance`. The followed source confirms it (nothing new is published) or, if it
  still reports less `confirm_ms` later (or reports something inconsistent), corrects it.
- **Monotonic**: a score or status never moves backwards except as a *correction* from the
  followed source (`correction: true` and the seq it replaces). A failed-over source that lags
  behind is not a correction: dropped.
- **Settlements**: a version that takes back what the last one settled (a rollback, or different
  results for the same market line) is a correction too.
- **Versions**: a version is published only when the content a consumer sees changes (not
  when only `source`, `provenance` or timestamps do). Versions are `(epoch, seq)`: `epoch` is
  fixed when the entity's lineage starts (its state was empty), `seq` counts 1, 2, 3... within it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson

from agents.stages.precedence import (
    LIVE,
    STATUS_RANK,
    Policy,
    behind_or_equal,
    choose,
    fill,
    group_values,
    groups_of,
    new_group,
    progress,
    regressed,
)
from schemas.timeutil import iso_ms

__all__ = ["STATUS_RANK", "Decision", "Policy", "content_hash", "decide"]

# Fields that say where or when a version came from, not what it says, in the canonical models' field
# order (`schemas/canonical.py`): a version lists them first, in this order.
_META_KEYS = ("epoch", "seq", "provider", "timestamp", "sourceTimestamp", "correction", "replacesSeq", "source",
              "provenance", "providerEventId", "refs")
_META = frozenset(_META_KEYS)
# Reasons by strength: the one reported for a record is the strongest any of its groups produced.
_STRENGTH = ("unchanged", "standby", "behind", "fresh", "published", "correction")


@dataclass(frozen=True)
class Decision:
    publish: dict[str, Any] | None
    state: dict[str, Any]
    reason: str  # "published", "correction", "fresh", "late", "repeat", "standby", "behind", "unchanged"


def content_hash(record: Mapping[str, Any]) -> str:
    return _digest(_content(record))


def _content(record: Mapping[str, Any]) -> dict[str, Any]:
    """What a consumer sees of a record: everything but where and when it came from."""
    content = dict(record)
    for key in _META_KEYS:  # popping the few meta keys is cheaper than filtering every key
        content.pop(key, None)
    return content


def _digest(content: Mapping[str, Any]) -> str:
    return hashlib.blake2b(orjson.dumps(content, option=orjson.OPT_SORT_KEYS), digest_size=12).hexdigest()


@cache
def _grouped_fields(record_type: str) -> tuple[str, ...]:
    return tuple(f for group in groups_of(record_type) for f in group.fields)


def _ungrouped(own: Mapping[str, Any], record_type: str) -> dict[str, Any]:
    """A record's content (`own`) without its groups' fields, which join it group by group. In the record's
    order: copying and popping the few grouped fields is cheaper than filtering every key."""
    content = dict(own)
    for key in _grouped_fields(record_type):
        content.pop(key, None)
    return content


def _ms(record: Mapping[str, Any], received_ms: int) -> int:
    text = record.get("sourceTimestamp")
    return iso_ms(text) if text else received_ms


def _newest_on_clock(seen: Mapping[str, Any] | None, stamped: bool) -> int | None:
    """The newest time a source gave on one clock: its own timestamps (`stamped`) or our receipt times.
    `ts` is the latest record's (on the clock `stamped` names); `st`/`ut` keep the other clock's."""
    if seen is None:
        return None
    if stamped == seen.get("stamped", True):
        return int(seen["ts"])
    other = seen.get("st" if stamped else "ut")
    return None if other is None else int(other)


def _source_entry(seen: Mapping[str, Any] | None, *, ts: int, stamped: bool, digest: str, received_ms: int,
                  carried: Mapping[str, int], stale_ms: int) -> dict[str, Any]:
    """What a state remembers of a source after taking one of its records."""
    other = _newest_on_clock(seen, not stamped)
    resumed = seen is None or received_ms - seen["seen"] > stale_ms
    return {"ts": ts, "hash": digest, "seen": received_ms,
            "since": received_ms if resumed or seen is None else seen["since"],
            "g": {**(seen or {}).get("g", {}), **carried},
            **({} if stamped else {"stamped": False}),  # absent means True, as stored before
            **({} if other is None else {"ut" if stamped else "st": other})}


def new_state(epoch: int) -> dict[str, Any]:
    return {"epoch": epoch, "seq": 0, "hash": None, "last": None, "updated": 0, "sources": {}, "groups": {}}


def _copy(state: dict[str, Any]) -> dict[str, Any]:
    return {**state, "sources": dict(state["sources"]),
            "groups": {name: dict(group) for name, group in state["groups"].items()}}


def decide(
    record: dict[str, Any], state: dict[str, Any] | None, source: str, received_ms: int, *, policy: Policy,
    is_down: Callable[[str], bool] = lambda _source: False, epoch: int | None = None,
) -> Decision:
    """`epoch`: the lineage id to use if this record starts one (default: `received_ms`)."""
    # A state without groups predates versions with epochs: start a new lineage.
    stored = new_state(received_ms if epoch is None else epoch) if state is None or "groups" not in state \
        else state
    ts = _ms(record, received_ms)
    stamped = bool(record.get("sourceTimestamp"))
    seen = stored["sources"].get(source)
    # Late and repeated records (the common repeat poll) change only `updated` and this source's entry:
    # the new state shares the stored one's groups, which nothing changes in place.
    # Only like clocks are compared: a record without the provider's own timestamp is ordered by when we
    # received it, and a provider clock (often whole seconds) can read earlier than that moment while
    # being newer. Comparing the two dropped a match's first live score as "late" after a pre-game poll
    # that had no timestamp.
    # Each clock keeps its own newest reading: a record re-processed after a restart (from a commit older
    # than the stored state) is still late against the source's newer stamped records when an unstamped
    # one came in between (it was compared with nothing and re-published an old state as a correction).
    newest = _newest_on_clock(seen, stamped)
    if newest is not None and ts < newest:
        return Decision(None, {**stored, "updated": received_ms}, "late")
    digest = _digest(own := _content(record))
    groups = groups_of(record["type"])
    carried = {g.name: received_ms for g in groups if g.carried(record)}
    pending = any(group.get("pending") for group in stored["groups"].values())
    if seen is not None and digest == seen["hash"] and not pending:
        sources = {**stored["sources"], source: {**seen, "seen": received_ms, "g": {**seen.get("g", {}), **carried}}}
        return Decision(None, {**stored, "updated": received_ms, "sources": sources}, "repeat")
    state = _copy(stored)
    state["updated"] = received_ms
    state["sources"][source] = _source_entry(seen, ts=ts, stamped=stamped, digest=digest, received_ms=received_ms,
                                             carried=carried, stale_ms=policy.stale_ms)

    last: dict[str, Any] | None = state["last"]
    content = _ungrouped(own, record["type"])
    provenance: dict[str, str] = dict((last or {}).get("provenance") or {})
    reason, correction, seen_reasons = "unchanged", False, set()
    for group in groups:
        gs = state["groups"].setdefault(group.name, new_group())
        mine = group_values(group, record, _META)
        if last is None:
            content.update(mine)
            provenance[group.name] = source
            if group.name in carried:
                gs.update(source=source, ts=ts)
            continue
        current = group_values(group, last, _META)
        values, outcome = _group(group.name, gs, current, mine, carried=carried, sources=state["sources"],
                                 source=source, ts=ts, received_ms=received_ms, policy=policy,
                                 sport=record.get("sport"), is_down=is_down)
        content = dict(values) if not group.fields else {**content, **values}
        if outcome in {"published", "correction", "fresh"}:
            provenance[group.name] = source
        correction |= outcome == "correction"
        seen_reasons.add(outcome)
        reason = max(reason, outcome, key=_STRENGTH.index)

    # Mostly the record's own content (one source, every group published): its digest, without hashing again.
    merged_hash = digest if content == own else _digest(content)
    if last is not None and merged_hash != state["hash"] and takes_back(last, content):
        correction, reason = True, "correction"
    if last is not None and merged_hash == state["hash"]:
        state["last"] = {**last, "provenance": provenance}
        quiet = next((r for r in ("behind", "standby") if r in seen_reasons), "unchanged")
        return Decision(None, state, quiet)
    refs = {**((last or {}).get("refs") or {}), **(record.get("refs") or {})}
    seq = state["seq"] + 1
    published = {k: record[k] for k in _META_KEYS if k in record}
    published.update(content)
    if refs:
        published["refs"] = refs
    published.update(epoch=state["epoch"], seq=seq, source=source, provenance=provenance, correction=correction,
                     replacesSeq=state["seq"] if correction else None)
    state.update(seq=seq, hash=merged_hash, last=published)
    return Decision(published, state, "correction" if correction else "published" if reason != "fresh" else "fresh")


def takes_back(last: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """A settlement that undoes what the published one settled: a rollback, or other results for the same
    market line without one. Consumers must reopen the bets the replaced version settled or voided."""
    if new.get("type") != "settlement" or last.get("rolledBack"):
        return False
    return bool(new.get("rolledBack")) or (new.get("kind") == "result" and new.get("outcomes") != last.get("outcomes"))


def _group(name: str, gs: dict[str, Any], current: dict[str, Any], mine: dict[str, Any], *,
           carried: Mapping[str, int], sources: Mapping[str, Any], source: str, ts: int, received_ms: int,
           policy: Policy, sport: str | None, is_down: Callable[[str], bool]) -> tuple[dict[str, Any], str]:
    """The values one group takes from this record, and why."""
    active: str | None
    if name in carried:
        active = choose(gs, name, sources, source, received_ms, policy=policy, sport=sport, is_down=is_down)
    else:  # the followed source's record without this group's values still updates what it does carry
        active = source if gs["source"] == source else None
    mine = fill(mine, current)
    if active != source:
        if name == LIVE:
            ahead = progress(current, mine)
            if ahead:
                gs["pending"] = {"source": source, "at": received_ms}
                return {**current, **ahead}, "fresh"
        return current, "standby"
    was, pending = gs["source"], gs.get("pending")
    if name == LIVE and regressed(current, mine):
        if pending and was == source:
            if behind_or_equal(mine, current) and received_ms - pending["at"] < policy.confirm_ms:
                return current, "behind"  # the followed source has not caught up with fresher news yet
        elif not (was == source and ts > gs["ts"]):
            return current, "behind"  # a source we failed over to (or back to) lags behind
        gs.update(source=source, ts=ts, pending=None)
        return mine, "correction"
    gs.update(source=source, ts=ts, pending=None)
    return mine, "published"
