"""Dedupe, ordering, corrections and precedence/failover as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from agents.stages.ordering import Policy, decide
from agents.stages.process import process_candidates
from schemas import topics

POLICY = Policy({"default": ["sportradar", "sportsdataio", "theoddsapi/scores", "theoddsapi"]},
                stale_ms=60_000, hysteresis_ms=30_000)
PRIMARY, SECONDARY = "sportsdataio/scores", "theoddsapi/scores"


def ev(home, away, status="live", ts="2024-01-01T20:00:00Z", provider="sportsdataio", **extra) -> dict:
    return {"type": "event", "id": "sf_1", "sport": "basketball", "provider": provider,
            "score": {"home": home, "away": away}, "status": status, "sourceTimestamp": ts,
            "timestamp": ts, "seq": 0, **extra}


def run(steps, is_down=lambda s: False):
    """Feed (record, source, received_ms) steps; return the published records and reasons."""
    state, published, reasons = None, [], []
    for record, source, received in steps:
        decision = decide(record, state, source, received, policy=POLICY, is_down=is_down)
        state = decision.state
        reasons.append(decision.reason)
        if decision.publish:
            published.append(decision.publish)
    return published, reasons, state


def test_repeats_publish_nothing():
    """The same content from the same source, polled again, produces nothing downstream."""
    published, reasons, _ = run([(ev(1, 0), PRIMARY, 1000), (ev(1, 0, ts="2024-01-01T20:00:05Z"), PRIMARY, 6000),
                                 (ev(1, 0), PRIMARY, 11000)])
    assert [p["seq"] for p in published] == [1]
    assert reasons[1:] in (["unchanged", "repeat"], ["repeat", "repeat"], ["unchanged", "late"])


def test_seq_increases_by_one_per_published_version():
    """Every published version of an entity has seq = previous + 1."""
    steps = [(ev(i, 0, ts=f"2024-01-01T20:00:{i:02d}Z"), PRIMARY, 1000 + i) for i in range(5)]
    published, _, _ = run(steps)
    assert [p["seq"] for p in published] == [1, 2, 3, 4, 5]


def test_late_update_never_moves_the_score_back():
    """An update older than one already seen from the same source is dropped."""
    published, reasons, _ = run([(ev(2, 1, ts="2024-01-01T20:00:10Z"), PRIMARY, 1000),
                                 (ev(1, 1, ts="2024-01-01T20:00:05Z"), PRIMARY, 2000)])
    assert [p["score"] for p in published] == [{"home": 2, "away": 1}]
    assert reasons[1] == "late"


def test_genuine_correction_is_published_as_one():
    """A newer update from the followed source that lowers the score is a correction."""
    published, _, _ = run([(ev(2, 1, ts="2024-01-01T20:00:10Z"), PRIMARY, 1000),
                           (ev(1, 1, ts="2024-01-01T20:00:30Z"), PRIMARY, 2000)])
    assert published[-1]["score"] == {"home": 1, "away": 1}
    assert published[-1]["correction"] is True
    assert published[-1]["replacesSeq"] == 1
    assert published[-1]["seq"] == 2


def test_status_never_goes_back_from_final_without_a_correction():
    """'live' after 'final' from a lagging secondary is not published."""
    published, reasons, _ = run([(ev(3, 1, status="final"), PRIMARY, 1000),
                                 (ev(3, 1, status="live", provider="theoddsapi"), SECONDARY, 200_000)])
    assert [p["status"] for p in published] == ["final"]
    assert reasons[-1] == "behind"


def test_a_source_without_a_score_does_not_erase_it():
    """An odds-feed event (score unknown) keeps the known score."""
    published, _, _ = run([(ev(2, 2), PRIMARY, 1000),
                           (ev(None, None, status="halftime"), PRIMARY, 2000)])
    assert published[-1]["score"] == {"home": 2, "away": 2}
    assert published[-1]["status"] == "halftime"


def test_better_source_takes_over_at_once():
    """A higher-priority source replaces a lower one as soon as it reports; the same content is no new version."""
    published, reasons, _ = run([(ev(0, 0, provider="theoddsapi"), SECONDARY, 1000), (ev(0, 0), PRIMARY, 2000),
                                     (ev(1, 0), PRIMARY, 3000)])
    assert [p["seq"] for p in published] == [1, 2]
    assert reasons[1] == "unchanged"
    assert published[-1]["source"] == PRIMARY
    assert published[-1]["provenance"] == {"live": PRIMARY, "fixture": PRIMARY}


def test_failover_when_primary_is_stale_then_no_flapping_on_return():
    """Primary silent past stale_ms: the secondary takes over; the primary returns only after hysteresis."""
    steps = [
        (ev(0, 0), PRIMARY, 0),
        (ev(0, 0, provider="theoddsapi"), SECONDARY, 1_000),            # standby: primary fresh
        (ev(1, 0, provider="theoddsapi", ts="2024-01-01T20:01:30Z"), SECONDARY, 90_000),  # primary stale: failover
        (ev(1, 0, ts="2024-01-01T20:01:31Z", clock="9:00"), PRIMARY, 91_000),  # primary back: hysteresis
        (ev(2, 0, provider="theoddsapi", ts="2024-01-01T20:01:40Z"), SECONDARY, 100_000),
        (ev(2, 0, ts="2024-01-01T20:01:41Z", clock="8:00"), PRIMARY, 101_000),  # still within hysteresis
        (ev(2, 0, ts="2024-01-01T20:02:10Z", clock="1:00"), PRIMARY, 125_000),  # hysteresis passed: back
    ]
    published, reasons, state = run(steps)
    assert reasons[1] == "standby"
    assert reasons[3] == reasons[5] == "standby"  # the primary's clock is not followed during hysteresis
    assert [(p["score"]["home"], p.get("clock"), p["provenance"]["live"]) for p in published] == [
        (0, None, PRIMARY), (1, None, SECONDARY), (2, None, SECONDARY), (2, "1:00", PRIMARY)]
    assert [p["seq"] for p in published] == [1, 2, 3, 4]
    assert state["groups"]["live"]["failoverFrom"] is None


def test_feed_status_down_fails_over_immediately():
    """When the followed feed is reported down, the next provider's news is published at once."""
    published, _, _ = run([(ev(0, 0), PRIMARY, 0), (ev(1, 0, provider="theoddsapi"), SECONDARY, 5_000)],
                          is_down=lambda source: source == PRIMARY)
    assert [p["source"] for p in published] == [PRIMARY, SECONDARY]


def test_odds_move_both_ways():
    """Prices are not monotonic: a lower price is an ordinary update, not a correction."""
    odds = {"type": "odds", "eventId": "sf_1", "bookmaker": "b", "market": "moneyline", "provider": "theoddsapi",
            "outcomes": [{"side": "home", "price": 2.0}], "sourceTimestamp": "2024-01-01T20:00:00Z"}
    lower = {**odds, "outcomes": [{"side": "home", "price": 1.8}], "sourceTimestamp": "2024-01-01T20:00:05Z"}
    published, _, _ = run([(odds, "theoddsapi/odds", 0), (lower, "theoddsapi/odds", 5_000)])
    assert [p["outcomes"][0]["price"] for p in published] == [2.0, 1.8]
    assert not any(p["correction"] for p in published)


ODDS_FEED, SCORES_FEED = "theoddsapi/odds", "theoddsapi/scores"


def test_an_odds_feed_never_takes_over_the_score_freeze_of_issue_13():
    """The followed scores feed is silent past stale_ms while the odds feed (no score) keeps polling:
    the odds feed takes over what it carries (the fixture), never the score, so the scores feed's
    next score is published at once (it used to wait out the 30 s hysteresis as `standby`)."""
    policy = Policy({"default": ["theoddsapi/scores", "theoddsapi"]}, stale_ms=60_000, hysteresis_ms=30_000)
    steps = [
        (ev(1, 0, provider="theoddsapi"), SCORES_FEED, 0),
        (ev(None, None, provider="theoddsapi", ts="2024-01-01T20:01:10Z"), ODDS_FEED, 70_000),
        (ev(2, 0, provider="theoddsapi", ts="2024-01-01T20:01:15Z"), SCORES_FEED, 75_000),
        (ev(None, None, provider="theoddsapi", ts="2024-01-01T20:01:20Z"), ODDS_FEED, 80_000),
        (ev(3, 0, provider="theoddsapi", ts="2024-01-01T20:01:25Z"), SCORES_FEED, 85_000),
    ]
    state, scores = None, []
    for record, source, received in steps:
        decision = decide(record, state, source, received, policy=policy)
        state = decision.state
        if decision.publish:
            scores.append((decision.publish["score"]["home"], decision.publish["provenance"]["live"]))
    assert scores == [(1, SCORES_FEED), (2, SCORES_FEED), (3, SCORES_FEED)]
    assert state["groups"]["live"]["source"] == SCORES_FEED


def test_fresher_progress_from_another_source_is_published_at_once_then_confirmed():
    """The followed source is slow: another source's forward progress goes out at once with its
    provenance; the followed source's later identical report publishes nothing new."""
    published, reasons, state = run([
        (ev(0, 0), PRIMARY, 0),
        (ev(1, 0, provider="theoddsapi", ts="2024-01-01T20:00:03Z"), SECONDARY, 3_000),  # fresher
        (ev(0, 0, ts="2024-01-01T20:00:05Z"), PRIMARY, 5_000),   # primary has not caught up: no step back
        (ev(1, 0, ts="2024-01-01T20:00:15Z"), PRIMARY, 15_000),  # primary confirms
        (ev(2, 0, ts="2024-01-01T20:00:30Z"), PRIMARY, 30_000),
    ])
    assert [(p["score"]["home"], p["provenance"]["live"]) for p in published] == [
        (0, PRIMARY), (1, SECONDARY), (2, PRIMARY)]
    assert reasons[1:4] == ["fresh", "behind", "unchanged"]
    assert not any(p["correction"] for p in published)
    assert state["groups"]["live"]["pending"] is None


def test_the_followed_source_corrects_a_fresher_score_it_never_confirms():
    """Another source's score the followed source still contradicts after confirm_ms is corrected."""
    published, reasons, _ = run([
        (ev(0, 0), PRIMARY, 0),
        (ev(1, 0, provider="theoddsapi", ts="2024-01-01T20:00:03Z"), SECONDARY, 3_000),
        (ev(0, 0, ts="2024-01-01T20:00:10Z"), PRIMARY, 10_000),   # lagging: held
        (ev(0, 0, ts="2024-01-01T20:00:40Z"), PRIMARY, 40_000),   # still 0-0 past confirm_ms: a correction
    ])
    assert [(p["score"]["home"], p["correction"], p["replacesSeq"]) for p in published] == [
        (0, False, None), (1, False, None), (0, True, 2)]
    assert reasons[-1] == "correction"


def test_a_source_that_lacks_a_group_never_takes_it_but_status_progress_is_fresh():
    """The odds feed knows the match went live (commence time passed) before the scores feed."""
    policy = Policy({"default": ["theoddsapi/scores", "theoddsapi"]})
    first = decide(ev(None, None, status="scheduled", provider="theoddsapi"), None, SCORES_FEED, 0, policy=policy)
    live = decide(ev(None, None, status="live", provider="theoddsapi", ts="2024-01-01T20:00:05Z"), first.state,
                  ODDS_FEED, 5_000, policy=policy)
    assert live.publish is not None
    assert live.publish["status"] == "live"
    assert live.publish["provenance"]["live"] == ODDS_FEED
    assert live.state["groups"]["live"]["source"] != ODDS_FEED


def test_a_version_is_published_only_when_content_changes():
    """Two sources with the same score: a change of `source` alone is no new version."""
    published, reasons, _ = run([(ev(1, 0), PRIMARY, 0),
                                 (ev(1, 0, provider="theoddsapi", ts="2024-01-01T20:00:02Z"), SECONDARY, 2_000),
                                 (ev(1, 0, ts="2024-01-01T20:00:04Z"), PRIMARY, 4_000)])
    assert len(published) == 1
    assert reasons[1:] == ["standby", "repeat"]


def test_epoch_names_the_lineage_and_seq_counts_within_it():
    """A new lineage (state empty: first sight, expiry, a replay) gets its own epoch; seq restarts at 1."""
    first = decide(ev(0, 0), None, PRIMARY, 1_000, policy=POLICY)
    second = decide(ev(1, 0, ts="2024-01-01T20:00:01Z"), first.state, PRIMARY, 2_000, policy=POLICY)
    assert (first.publish["epoch"], first.publish["seq"]) == (1_000, 1)
    assert (second.publish["epoch"], second.publish["seq"]) == (1_000, 2)
    after_expiry = decide(ev(1, 0, ts="2024-01-01T20:00:01Z"), None, PRIMARY, 9_000_000, policy=POLICY)
    assert (after_expiry.publish["epoch"], after_expiry.publish["seq"]) == (9_000_000, 1)
    replay = decide(ev(1, 0), None, PRIMARY, 1_000, policy=POLICY, epoch=42)
    assert replay.publish["epoch"] == 42


def test_a_state_past_its_ttl_starts_a_new_lineage_even_before_the_sweep_deletes_it():
    """process_candidates treats a stored state older than the TTL (by receipt time) as gone."""
    stored = decide(ev(1, 0), None, PRIMARY, 1_000, policy=POLICY).state
    record = ev(2, 0, providerEventId="g1", homeTeam="A", awayTeam="B", league="NBA",
                startTime="2024-01-01T19:00:00Z")
    message = orjson.dumps({"source": PRIMARY, "receivedMs": 50_000, "records": [record]})
    kept = process_candidates("fx|basketball|a|b", message, [], [], lambda _k: stored, policy=POLICY,
                              tolerance_ms=0, is_down=lambda _s: False, ttl_ms=60_000)
    expired = process_candidates("fx|basketball|a|b", message, [], [], lambda _k: stored, policy=POLICY,
                                 tolerance_ms=0, is_down=lambda _s: False, ttl_ms=10_000)

    def versions(result):
        return [(r["epoch"], r["seq"]) for r in (orjson.loads(o.value) for o in result.outputs
                                                 if o.topic == topics.EVENTS)]

    assert versions(kept) == [(1_000, 2)]
    assert versions(expired) == [(50_000, 1)]


def test_a_first_stamped_score_is_not_late_after_a_pre_game_poll_without_a_timestamp():
    """Seen in the accuracy harness: The Odds API's pre-game record has no `last_update`, so it is
    ordered by when it was received (20:00:47.847); the first live score's own clock reads whole
    seconds (20:00:47). Comparing the two clocks dropped the 0-0 as late; only like clocks compare."""
    kickoff = int(datetime(2024, 1, 1, 20, 0, 47, tzinfo=UTC).timestamp() * 1000)
    steps = [
        (ev(None, None, provider="theoddsapi", ts=None), ODDS_FEED, kickoff + 844),
        (ev(None, None, status="scheduled", provider="theoddsapi", ts=None), SCORES_FEED, kickoff + 847),
        (ev(0, 0, provider="theoddsapi", ts="2024-01-01T20:00:47Z"), SCORES_FEED, kickoff + 935),
        (ev(0, 1, provider="theoddsapi", ts="2024-01-01T20:00:50Z"), SCORES_FEED, kickoff + 3_000),
    ]
    published, reasons, _ = run(steps)
    assert [(p["score"]["home"], p["score"]["away"]) for p in published if p["score"]["home"] is not None] == \
        [(0, 0), (0, 1)]
    assert "late" not in reasons


def test_a_stamped_source_still_drops_its_own_older_records():
    """The same clock on both sides: an older provider timestamp is still late."""
    published, reasons, _ = run([
        (ev(None, None, provider="theoddsapi", ts=None), SCORES_FEED, 1_000),
        (ev(1, 0, provider="theoddsapi", ts="2024-01-01T20:00:10Z"), SCORES_FEED, 2_000),
        (ev(0, 0, provider="theoddsapi", ts="2024-01-01T20:00:05Z"), SCORES_FEED, 3_000),
    ])
    assert reasons[-1] == "late"
    assert published[-1]["score"] == {"home": 1, "away": 0}


def test_a_record_processed_again_is_late_against_its_source_even_after_an_unstamped_one():
    """Seen in the accuracy harness after a restart re-read a resolve partition from an old commit: the
    source's stamped 1-0 and 2-0 were stored, then an unstamped record; the stamped 1-0 processed again
    was compared with nothing (other clock) and re-published as a correction under a new seq, naming
    content a consumer had already seen under another version. It is late on its own clock."""
    first = ev(1, 0, provider="theoddsapi", ts="2024-01-01T20:00:10Z")
    second = ev(2, 0, provider="theoddsapi", ts="2024-01-01T20:00:20Z")
    steps = [
        (first, SCORES_FEED, 1_000),
        (second, SCORES_FEED, 2_000),
        (ev(2, 0, provider="theoddsapi", ts=None, period="2"), SCORES_FEED, 3_000),  # no timestamp
        (first, SCORES_FEED, 4_000),  # processed again
        (second, SCORES_FEED, 5_000),  # processed again
    ]
    published, reasons, _ = run(steps)
    assert reasons[-2:] == ["late", "unchanged"]
    assert [(p["seq"], p["score"]["home"], p["correction"]) for p in published] == \
        [(1, 1, False), (2, 2, False), (3, 2, False)]

