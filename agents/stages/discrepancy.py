"""Discrepancies: matched providers disagreeing on a fixture's score, status or start time (pure).

Stage 2 keeps, per canonical event, each provider's latest score, status and start time (the
record as resolved: canonical orientation). When two providers that reported within `FRESH_MS`
disagree on a field and still do `grace_ms` later (a provider merely polled a few seconds behind
is not a discrepancy), an `open` record goes to canonical.discrepancies: which providers, which
field, each one's value and when it reported it, and since when they disagree. When they agree
again a `resolved` record follows. The state lives in the event's entity state (`agents/stages/process.py`),
so it is changelog-backed and expires with it; a worker before that kept it under its own key `disc|<id>`.
"""

from __future__ import annotations

from typing import Any

from schemas.timeutil import from_epoch_ms, iso_z

FIELDS = ("score", "status", "startTime")
FRESH_MS = 5 * 60_000  # a provider silent longer than this is not compared (it is down or stopped covering)
STATE_PREFIX = "disc|"


def iso_z_ms(ms: int) -> str:
    return iso_z(from_epoch_ms(ms))


def state_key(event_id: str) -> str:
    return f"{STATE_PREFIX}{event_id}"


def _values(record: dict[str, Any]) -> dict[str, Any]:
    score = record.get("score") or {}
    home, away = score.get("home"), score.get("away")
    return {"score": [home, away] if home is not None and away is not None else None,
            "status": record.get("status"), "startTime": record.get("startTime")}


def observe(state: dict[str, Any] | None, record: dict[str, Any], received_ms: int, *, grace_ms: int
            ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(new state, or None when nothing changed; discrepancy records to publish) for one event record."""
    usable = state is not None and isinstance(state.get("providers"), dict) and isinstance(state.get("open"), dict)
    current: dict[str, Any] = state if state is not None and usable else {"updated": 0, "providers": {}, "open": {}}
    provider = record["provider"]
    mine = _values(record)
    if not current["open"] and all(p == provider for p in current["providers"]):
        # The common case, one provider covering the fixture: nothing to compare, only remember its values.
        before = current["providers"].get(provider)
        if before is not None and before["v"] == mine:
            return None, []
        return {"updated": received_ms, "providers": {provider: {"v": mine, "at": received_ms}}, "open": {}}, []
    opens: dict[str, dict[str, Any]] = dict(current["open"])
    new: dict[str, Any] = {"updated": received_ms, "providers": dict(current["providers"]), "open": opens}
    before = new["providers"].get(provider)
    changed = before is None or before["v"] != mine
    new["providers"][provider] = {"v": mine, "at": received_ms}
    fresh = {p: e for p, e in new["providers"].items() if received_ms - e["at"] <= FRESH_MS}
    if len(fresh) < 2 and not opens:
        return (new if changed else None), []  # one voice disagrees with no one, and nothing is open to resolve
    shown = [e["v"] for e in fresh.values()]
    outputs: list[dict[str, Any]] = []
    for field in FIELDS:
        opened = opens.get(field)
        if _disagree([v[field] for v in shown if v[field] is not None]):
            if opened is None:
                opens[field] = {"since": received_ms, "reported": False}
                changed = True
            elif not opened["reported"] and received_ms - opened["since"] >= grace_ms:
                opens[field] = {**opened, "reported": True}
                outputs.append(_record("open", field, record, _reported(fresh, field), fresh,
                                       since_ms=opened["since"], now_ms=received_ms))
                changed = True
        elif opened is not None:
            if opened["reported"]:
                outputs.append(_record("resolved", field, record, _reported(fresh, field), fresh,
                                       since_ms=opened["since"], now_ms=received_ms))
            del opens[field]
            changed = True
    return (new if changed else None), outputs


def _disagree(values: list[Any]) -> bool:
    """Two of the values differ (compared by their repr, as before: values come from JSON, so equal values
    have equal reprs and the repr set is only built when `==` already found a difference)."""
    first = values[0] if values else None
    if all(v == first for v in values):
        return False
    return len({repr(v) for v in values}) > 1


def _reported(fresh: dict[str, Any], field: str) -> dict[str, Any]:
    """Each fresh provider's value of `field`, where it reports one."""
    return {p: e["v"][field] for p, e in fresh.items() if e["v"][field] is not None}


def _record(state: str, field: str, record: dict[str, Any], values: dict[str, Any], fresh: dict[str, Any], *,
            since_ms: int, now_ms: int) -> dict[str, Any]:
    def shown(value: Any) -> Any:
        return {"home": value[0], "away": value[1]} if field == "score" else value

    return {
        "type": "discrepancy", "state": state, "id": record["id"], "field": field,
        "sport": record.get("sport"), "league": record.get("league"), "homeTeam": record.get("homeTeam"),
        "awayTeam": record.get("awayTeam"),
        "values": {p: shown(v) for p, v in sorted(values.items())},
        "reportedAt": {p: iso_z_ms(fresh[p]["at"]) for p in sorted(values)},
        "since": iso_z_ms(since_ms), "at": iso_z_ms(now_ms),
    }
