"""Property tests of stage 2's versioning over random interleavings of sources, repeats, late polls,
crash-and-reprocess and state expiry: the invariants consumers rely on hold for every run."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from agents.stages.ordering import Policy, content_hash, decide
from agents.stages.precedence import STATUS_RANK

POLICY = Policy({"default": ["sportsdataio", "theoddsapi/scores", "theoddsapi"]}, stale_ms=20_000,
                hysteresis_ms=10_000, confirm_ms=15_000)
SOURCES = ("sportsdataio/scores", "theoddsapi/scores", "theoddsapi/odds")
TTL_MS = 200_000


def record(source: str, score: tuple[int, int] | None, status: str, ts_ms: int) -> dict:
    hours, minutes, seconds = ts_ms // 3_600_000, ts_ms // 60_000 % 60, ts_ms // 1000 % 60
    stamp = f"2026-01-01T{hours:02d}:{minutes:02d}:{seconds:02d}.{ts_ms % 1000:03d}Z"
    return {"type": "event", "id": "sf_1", "sport": "soccer", "league": "EPL", "homeTeam": "A", "awayTeam": "B",
            "startTime": "2026-01-01T00:00:00Z", "provider": source.split("/", maxsplit=1)[0], "providerEventId": "p",
            "score": {"home": score[0], "away": score[1]} if score else {"home": None, "away": None},
            "status": status, "sourceTimestamp": stamp, "timestamp": stamp}


@st.composite
def runs(draw):
    """A match whose score only moves forward; each step one source polls it, possibly behind or late."""
    steps, truth, now = [], [(0, 0)], 0
    for _ in range(draw(st.integers(5, 60))):
        now += draw(st.integers(100, 40_000))
        if draw(st.booleans()):
            home, away = truth[-1]
            truth.append((home + 1, away) if draw(st.booleans()) else (home, away + 1))
        source = draw(st.sampled_from(SOURCES))
        behind = draw(st.integers(0, min(3, len(truth) - 1)))  # a lagging feed reports an older state
        score = None if source.endswith("/odds") else truth[-1 - behind]
        status = "final" if len(truth) > 6 and draw(st.integers(0, 9)) == 0 else "live"
        steps.append((source, score, status, max(now - behind * 1000, 0), now))
        if draw(st.integers(0, 7)) == 0:
            steps.append(steps[-1])  # a repeated poll
    return steps


def play(steps, state=None, expire=False):
    published = []
    for source, score, status, ts, received in steps:
        if expire and state is not None and received - state["updated"] > TTL_MS:
            state = None
        decision = decide(record(source, score, status, ts), state, source, received, policy=POLICY)
        state = decision.state
        if decision.publish is not None:
            published.append(decision.publish)
    return published, state


def check(published):
    lineages: dict[int, list[int]] = {}
    for p in published:
        lineages.setdefault(p["epoch"], []).append(p["seq"])
    for seqs in lineages.values():
        assert seqs == list(range(1, len(seqs) + 1)), "seqs count 1, 2, 3... within a lineage"
    for a, b in itertools.pairwise(published):
        if a["epoch"] != b["epoch"]:
            continue
        assert content_hash(a) != content_hash(b), "a version is published only when the content changes"
        back = (b["score"]["home"] is not None and a["score"]["home"] is not None
                and (b["score"]["home"] < a["score"]["home"] or b["score"]["away"] < a["score"]["away"])) \
            or STATUS_RANK[b["status"]] < STATUS_RANK[a["status"]]
        assert not back or b["correction"], "a score or status moves back only as a correction"
        if b["correction"]:
            assert b["replacesSeq"] == a["seq"]


@settings(max_examples=120, deadline=None)
@given(runs())
def test_versions_are_gapless_content_changing_and_monotonic_except_corrections(steps):
    check(play(steps)[0])


@settings(max_examples=60, deadline=None)
@given(runs(), st.data())
def test_a_crash_and_reprocess_republishes_the_same_versions(steps, data):
    """SIGKILL before the state was saved: the restored (older) state reprocesses the same input and
    publishes the same (epoch, seq) with the same content, so no version ever names two contents."""
    cut = data.draw(st.integers(0, len(steps)))
    back_to = data.draw(st.integers(0, cut))
    straight, _ = play(steps)
    _, saved = play(steps[:back_to])
    before, _ = play(steps[:back_to])
    after, _ = play(steps[back_to:], state=saved)
    assert [(p["epoch"], p["seq"], content_hash(p)) for p in before + after] == \
        [(p["epoch"], p["seq"], content_hash(p)) for p in straight]


@settings(max_examples=60, deadline=None)
@given(runs())
def test_expiry_starts_a_new_lineage_and_never_reuses_a_version(steps):
    published, _ = play(steps, expire=True)
    check(published)
    seen: dict[tuple[int, int], str] = {}
    for p in published:
        assert seen.setdefault((p["epoch"], p["seq"]), content_hash(p)) == content_hash(p)
    epochs = [p["epoch"] for p in published]
    assert epochs == sorted(epochs), "a later lineage has a later epoch"
