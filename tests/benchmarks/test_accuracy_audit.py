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
    assert result.lost_by_entity == {E: 1}
    assert result.lost_by_tenth[3] == 1  # where: the second of three states


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


def test_event_truth_is_every_state_any_provider_served_in_the_match_order():
    t = Truth(ids={("theoddsapi", "g1"): "m1", ("apisports", "football:7"): "m1"})
    t.served_event("m1", S0)  # The Odds API
    t.served_event("m1", S1)  # API-Sports polled first after the goal
    t.served_event("m1", S0)  # The Odds API's stale (out-of-order) snapshot: not expected again
    t.served_event("m1", S1)  # the same state from the other provider: one version, not two
    t.served_event("m1", (2, 0, "final"))
    assert t.expected["event|m1"] == [S0, S1, (2, 0, "final")]
    t.served_event("m1", (1, 3, "final"))  # neither before nor after: a broken world, counted
    assert t.incomparable == 1


def test_a_superseded_state_published_again_fails_even_as_a_correction():
    # In the harness's world no provider ever takes a state back: a correction to an older state is a regression.
    result = score(truth(S0, S1, S2), published(((7, 1), S0), ((7, 2), S1), ((7, 3), S2),
                                                ((7, 4), S0, True), ((7, 5), S2)))
    assert (result.regressed, result.backwards, result.corrections) == (1, 0, 1)
    assert not result.ok


def test_a_lost_state_is_described_by_who_served_it_and_what_was_published_around_it():
    t = Truth(ids={("theoddsapi", "g1"): "m1"})
    t.served_event("m1", S0, "theoddsapi/scores")
    t.served_event("m1", S1, "apisports/football")
    t.served_event("m1", S2, "statscore/incidents")
    p = Published()
    p.add("event|m1", (7, 1), S0, source="theoddsapi/scores")
    p.add("event|m1", (7, 2), S2, source="statscore/incidents")
    result = score(t, p)
    assert result.lost == 1
    [line] = result.lost_states
    assert line.startswith(f"event|m1: {S1} served by apisports/football at ")
    assert f"published before it {S0} (from theoddsapi/scores), after it {S2} (from statscore/incidents, " \
           "served by statscore/incidents at " in line
