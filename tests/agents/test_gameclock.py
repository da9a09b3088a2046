"""Period and clock vocabulary: each provider's own text -> period number, phase, clock seconds."""

from __future__ import annotations

import pytest

from agents.stages.gameclock import game_clock

CASES = [
    # provider, sport, league, status, period text, clock text -> periodNumber, phase, clockSeconds, running
    ("apisports", "soccer", "Premier League", "live", "1H", "23'", 1, "regulation", 23 * 60, True),
    ("apisports", "soccer", "Premier League", "live", "2H", "90+3'", 2, "regulation", 93 * 60, True),
    ("apisports", "soccer", "Premier League", "halftime", "HT", None, 1, "break", None, None),
    ("apisports", "soccer", "Copa del Rey", "live", "ET", "105'", 3, "overtime", 105 * 60, True),
    ("apisports", "soccer", "Copa del Rey", "live", "P", None, None, "shootout", None, None),
    ("sportradar", "soccer", "Bundesliga", "live", "1st_half", "23:10", 1, "regulation", 23 * 60 + 10, True),
    ("sportradar", "soccer", "Bundesliga", "live", "2nd half", "67:00", 2, "regulation", 67 * 60, True),
    ("statscore", "soccer", "Bundesliga", "live", "2nd half", "22:00", 2, "regulation", 67 * 60, True),
    ("sportsdataio", "basketball", "NBA", "live", "3", "7:32", 3, "regulation", 7 * 60 + 32, True),
    ("sportsdataio", "basketball", "NBA", "halftime", "Half", None, None, "break", None, None),
    ("sportsdataio", "basketball", "NBA", "live", "OT", "4:00", 5, "overtime", 240, True),
    ("sportsdataio", "basketball", "NBA", "final", "F/OT", None, None, "ended", None, None),
    ("sportradar", "basketball", "NBA", "live", "Q2", "11:59", 2, "regulation", 719, True),
    ("sportradar", "basketball", "NBA", "live", "OT2", "01:00", 6, "overtime", 60, True),
    ("statscore", "basketball", "NBA", "live", "3rd quarter", "02:00", 3, "regulation", 600, True),
    ("statscore", "basketball", "EuroLeague", "live", "1st quarter", "02:00", 1, "regulation", 480, True),
    ("apisports", "basketball", "NBA", "live", "Q4", "8", 4, "regulation", 4 * 60, True),
    ("sportradar", "icehockey", "NHL", "live", "2nd period", "12:00", 2, "regulation", 720, True),
    ("sportsdataio", "baseball", "MLB", "live", "Top 7", None, 7, "regulation", None, None),
    ("sportsdataio", "baseball", "MLB", "live", "Bottom 10", None, 10, "regulation", None, None),
    ("sportsdataio", "americanfootball", "NFL", "live", "4", "0:42", 4, "regulation", 42, True),
    ("theoddsapi", "basketball", "NBA", "live", None, None, None, None, None, None),
    ("theoddsapi", "basketball", "NBA", "scheduled", None, None, None, "pregame", None, None),
    ("theoddsapi", "basketball", "NBA", "final", None, None, None, "ended", None, None),
    ("sportradar", "soccer", "Serie A", "live", "Started", "12:00", None, "regulation", 720, True),
    ("sportradar", "soccer", "Serie A", "live", "garbage?", "??", None, "regulation", None, None),
]


@pytest.mark.parametrize(("provider", "sport", "league", "status", "period", "clock", "number", "phase",
                          "seconds", "running"), CASES)
def test_provider_text_becomes_the_canonical_vocabulary(provider, sport, league, status, period, clock, number,
                                                        phase, seconds, running) -> None:
    record = {"provider": provider, "sport": sport, "league": league, "status": status, "period": period,
              "clock": clock}
    assert game_clock(record) == {"periodNumber": number, "phase": phase, "clockSeconds": seconds,
                                  "clockRunning": running}
