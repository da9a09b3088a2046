"""Golden test: both stages' outputs for a frozen corpus of raw records stay exactly what they were.

The corpus (`tests/fixtures/golden/stages_corpus.jsonl`) is the provider simulator polled by the real
connectors, every provider spelling teams its own way, with the hard cases in it: the same teams twice in
a day and a return leg, envelopes repeated and delivered late, UOF messages without their fixture, a
record that is no envelope and one whose payload the normalizer refuses. It runs through stage 1 and
stage 2 as the worker calls them (`benchmarks/_stage_harness.py`); every output (topic, key, value,
headers) is compared with `stages_expected.jsonl`, less what depends on the wall clock (the
normalized/published timestamps, a dead letter's `failedAt`). Values are compared as parsed JSON.

This freezes behaviour while the stages are made cheaper. A change of behaviour on purpose regenerates
the expected file (and the diff shows what changed):

    python -m tests.agents.test_stages_golden            # expected outputs from today's code
    python -m tests.agents.test_stages_golden --corpus   # a new corpus first (then review both diffs)
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from agents.stages.normalize import RESOLVE, OutRecord
from benchmarks import _stage_corpus as corpus
from benchmarks._stage_harness import WorkerStages
from schemas import headers as h

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "golden"
CORPUS, EXPECTED = GOLDEN / "stages_corpus.jsonl", GOLDEN / "stages_expected.jsonl"
_WALL_CLOCK_HEADERS = frozenset({h.NORMALIZED_TS, h.PUBLISHED_TS, h.APP})


def _shown(index: int, stage: int, out: OutRecord) -> dict[str, Any]:
    value = orjson.loads(out.value)
    if isinstance(value, dict):
        value.pop("failedAt", None)
    return {"in": index, "stage": stage, "topic": out.topic, "key": out.key.decode(), "value": value,
            "headers": [[k, v.decode()] for k, v in out.headers if k not in _WALL_CLOCK_HEADERS]}


def outputs(records: list[corpus.RawRecord], *, cached_states: bool = False) -> list[dict[str, Any]]:
    stages = WorkerStages(cached_states=cached_states)
    shown: list[dict[str, Any]] = []
    for index, record in enumerate(records):
        processed, results = stages.run(record)
        shown += [_shown(index, 1, out) for out in processed.records]
        if processed.dead_letter is not None:
            shown.append(_shown(index, 1, processed.dead_letter))
        shown += [_shown(index, 2, out) for result in results for out in result.outputs]
    return shown


def _by_input(shown: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    grouped: dict[int, list[dict[str, Any]]] = {}
    for output in shown:
        grouped.setdefault(output["in"], []).append(output)
    return grouped


@pytest.mark.parametrize("cached_states", [False, True], ids=["states-decoded", "states-cached"])
def test_both_stages_give_the_recorded_outputs_for_the_frozen_corpus(cached_states: bool) -> None:
    """Also with stage 2 reusing decoded entity states (`EntityStates`): the same outputs."""
    records = corpus.read(CORPUS)
    expected = [orjson.loads(line) for line in EXPECTED.read_bytes().splitlines()]
    actual = outputs(records, cached_states=cached_states)
    want_by, got_by = _by_input(expected), _by_input(actual)
    for index in range(len(records)):
        where = f"{records[index].topic}@{records[index].offset}"
        assert got_by.get(index) == want_by.get(index), f"raw record {index} ({where}) gives other outputs"
    # The corpus still holds what it is for: all stages' output kinds, dead letters, repeats.
    topics = {o["topic"] for o in expected}
    assert {RESOLVE, "deadletter", "canonical.events", "canonical.odds", "canonical.unmatched",
            "canonical.race_results"} <= topics


def test_stage_two_never_changes_a_state_it_was_handed() -> None:
    """`EntityStates` hands stage 2 the very dicts it decoded (or was given) before: that is only safe while
    nothing changes a state in place. Every state read during the corpus still serializes as it did."""
    stages = WorkerStages(cached_states=True)
    handed: list[tuple[dict[str, Any], bytes]] = []
    read = stages._entity_state

    def watched(key: str) -> Any:
        state = read(key)
        if state is not None:
            handed.append((state, orjson.dumps(state)))
        return state

    stages._entity_state = watched  # type: ignore[method-assign]
    for index, record in enumerate(corpus.read(CORPUS)):
        handed.clear()
        stages.run(record)
        changed = [before for state, before in handed if orjson.dumps(state) != before]
        assert not changed, f"raw record {index}: stage 2 changed a state it was handed in place"


def _regenerate(new_corpus: bool) -> None:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    if new_corpus:
        start = datetime.now(UTC).replace(microsecond=0)
        corpus.write(CORPUS, corpus.build(matches=9, ticks=10, seed=11, start=start, replay_every=13))
    shown = outputs(corpus.read(CORPUS))
    EXPECTED.write_bytes(b"".join(orjson.dumps(o, option=orjson.OPT_SORT_KEYS) + b"\n" for o in shown))
    print(f"{len(shown)} outputs written to {EXPECTED}")


if __name__ == "__main__":
    _regenerate("--corpus" in sys.argv[1:])
