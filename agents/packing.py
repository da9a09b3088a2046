"""The resolve topic's wire format: one Kafka record carries many stage-1 candidate messages.

Stage 1 (`agents/intake.py`) sends, per batch of raw records, one record per resolve partition;
stage 2 (the Faust agent in `agents/worker.py`) unpacks it and processes the candidates in order.
Faust's per-record cost (~100 µs per consumed record, ~45 µs per send) is then paid per batch.

A packed value is an index line and the candidate messages' bytes, back to back:

    [["<route>", [["<header>", "<value, latin-1>"], ...], <length>], ...]\\n<message 1><message 2>...

Each candidate message is stage 1's JSON (`agents.stages.normalize.candidates_out`), untouched, so
`process_candidates` reads exactly what it read when every candidate was its own record. A record
whose value starts with `{` is such a single message (keyed by route, headers on the record: the
format before packing), so records left on the topic by an older worker are still processed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import orjson

# Well under Kafka's default 1 MiB message limit (max.message.bytes, the producer's max_request_size).
MAX_PACKED_BYTES = 512 * 1024


class Candidate(NamedTuple):
    """One stage-1 candidate message: its route (fixture key), JSON value and carried headers."""

    route: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def pack(candidates: Iterable[Candidate], max_bytes: int = MAX_PACKED_BYTES) -> list[bytes]:
    """Candidates (of one resolve partition, in order) as packed values, each at most ~`max_bytes`."""
    packed: list[bytes] = []
    index: list[list[object]] = []
    bodies: list[bytes] = []
    size = 0
    for candidate in candidates:
        if index and size + len(candidate.value) > max_bytes:
            packed.append(_join(index, bodies))
            index, bodies, size = [], [], 0
        index.append([candidate.route.decode(), [[k, v.decode("latin-1")] for k, v in candidate.headers],
                      len(candidate.value)])
        bodies.append(candidate.value)
        size += len(candidate.value) + len(candidate.route) + 64
    if index:
        packed.append(_join(index, bodies))
    return packed


def _join(index: list[list[object]], bodies: list[bytes]) -> bytes:
    return orjson.dumps(index) + b"\n" + b"".join(bodies)


def unpack(key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]]) -> list[Candidate]:
    """The candidates of one resolve-topic record. Raises ValueError on a malformed record."""
    if value[:1] == b"{":  # one unpacked candidate message: the format before packing
        return [Candidate(key or b"", value, list(headers))]
    cut = value.find(b"\n")
    if cut < 0:
        raise ValueError("packed resolve record without an index line")
    try:
        index = orjson.loads(value[:cut])
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"packed resolve record with a malformed index: {exc}") from exc
    if not isinstance(index, list):
        raise ValueError("packed resolve record whose index is not a list")  # noqa: TRY004 - malformed input
    out: list[Candidate] = []
    position = cut + 1
    try:  # a wrong shape or type raises below: each is refused as malformed, none escapes as another error
        for entry in index:
            candidate, position = _entry(entry, value, position)
            out.append(candidate)
    except (TypeError, AttributeError, ValueError) as exc:  # ValueError: a wrong count, or latin-1 refused
        if str(exc).startswith("packed resolve record"):
            raise
        raise ValueError(f"packed resolve record with a malformed index entry: {exc}") from exc
    if position != len(value):
        raise ValueError("packed resolve record longer than its index says")
    return out


def _entry(entry: Any, value: bytes, position: int) -> tuple[Candidate, int]:  # entry: decoded JSON, any shape
    """The candidate an index entry points at, and where the next one starts."""
    route, carried, length = entry
    if type(length) is not int or length < 0:
        raise ValueError(f"packed resolve record with a malformed index entry: a length of {length!r}")
    end = position + length
    if end > len(value):
        raise ValueError("packed resolve record shorter than its index says")
    headers = [(k, v.encode("latin-1")) for k, v in carried]
    if not all(type(k) is str for k, _ in headers):
        raise ValueError("packed resolve record with a malformed index entry: a header name that is not a string")
    return Candidate(route.encode(), value[position:end], headers), end
