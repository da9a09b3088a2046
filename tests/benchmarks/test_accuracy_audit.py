"""The accuracy harness's audit must be able to fail: each broken stream below is caught."""

from __future__ import annotations

from benchmarks.accuracy_truth import Published, Truth, score

E = "event|g1"


def truth(*states) -> Truth:
    t = Truth()
    for i, state in enumerate(states):
        t.served(E, state, f"2026-01-01T00:00:{i:02d}Z")
    return t


def published(*versions) -> Published:
    p = Published()
    for version, state, *rest in versions:
        p.add(E, version, state, content=repr(state) + (rest[1] if len(rest) > 1 else ""),
              correction=bool(rest and rest[0]))
    return p


S0, S1, S2 = (0, 0, "live"), (1, 0, "live"), (2, 0, "live")


def test_a_correct_stream_passes():
    result = score(truth(S0, S1, S2), published(((7, 1), S0), ((7, 2), S1), ((7, 3), S2)))
    assert result.ok
    assert (result.correct, result.lost, result.seq_gaps) == (3, 0, 0)


def test_a_lost_version_is_a_gap_and_a_loss():
    result = score(truth(S0, S1, S2), published(((7, 1), S0), ((7, 3), S2)))
    assert not result.ok
    assert (result.lost, result.seq_gaps) == (1, 1)


def test_a_lineage_that_does_not_start_at_one_is_a_gap():
    result = score(truth(S0, S1), published(((7, 1), S0), ((9, 2), S1)))
    assert (result.seq_gaps, result.lineages) == (1, 1)


def test_the_same_content_under_two_versions_is_a_duplicate():
    result = score(truth(S0, S1), published(((7, 1), S0), ((7, 2), S0), ((7, 3), S1)))
    assert not result.ok
    assert result.duplicated == 1


def test_one_version_naming_two_contents_is_a_conflict():
    p = published(((7, 1), S0))
    p.add(E, (7, 1), S1, content="other")
    assert p.conflicting == 1
    p.add(E, (7, 1), S0, content=repr(S0))
    assert p.redelivered == 1


def test_a_score_moving_back_needs_a_correction():
    back = score(truth(S0, S1, S2), published(((7, 1), S1), ((7, 2), S0), ((7, 3), S2)))
    assert back.backwards == 1
    assert not back.ok
    corrected = score(truth(S1, S0), published(((7, 1), S1), ((7, 2), S0, True)))
    assert corrected.backwards == 0
