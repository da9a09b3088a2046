"""The scrubber is linear: megabytes of hostile text cost a fraction of a second and still lose their secrets."""

from __future__ import annotations

import logging
import time

import pytest

from runtime.observability.logs import MAX_MESSAGE_CHARS, ScrubFilter
from runtime.observability.scrub import Scrubber, cap, register_secrets

SECRET = "scrub-literal-secret-90817"
SECRETS_TEXT = (f"GET /odds?apiKey=qk-111222333&regions=us {SECRET} Authorization: Bearer abc.def "
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln ops@example.org password=pw-445566 ")
LEAKS = (SECRET, "qk-111222333", "abc.def", "eyJzdWIiOiJ4In0", "ops@example.org", "pw-445566")


@pytest.mark.parametrize("filler", [
    "a" * 1_000_000,            # a run of word characters: quadratic for `[\w.-]*name` and emails before
    "eyJ" * 333_333,            # many JWT starts
    "token" * 200_000,          # many secret names in one token
    "a.b-c" * 200_000,          # email local-part characters
    "a@" * 500_000,             # many '@'
    "key" + " " * 1_000_000,    # a name, then a long gap before a missing ':'
    "bearer " * 140_000,
])
def test_one_megabyte_is_scrubbed_fast(filler: str) -> None:
    """1 MB of adversarial text with secrets on both sides is scrubbed in well under a second."""
    scrub = Scrubber([SECRET])
    text = SECRETS_TEXT + filler + " " + SECRETS_TEXT
    start = time.perf_counter()
    out = scrub.text(text)
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, f"{elapsed:.2f}s"
    for leak in LEAKS:
        assert leak not in out


def test_log_lines_are_capped_after_scrubbing() -> None:
    """A 1 MB message becomes a capped line saying how much was cut; a secret at the cut is not half-logged."""
    register_secrets(SECRET)
    padding = "x" * (MAX_MESSAGE_CHARS - 5)  # the secret straddles the cap
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "%s", (padding + " " + SECRET + "y" * 1_000_000,),
                               None)
    start = time.perf_counter()
    assert ScrubFilter().filter(record)
    assert time.perf_counter() - start < 0.5
    message = record.getMessage()
    assert len(message) < MAX_MESSAGE_CHARS + 100
    assert "more characters cut]" in message
    assert SECRET[:4] not in message[MAX_MESSAGE_CHARS - 10:]


def test_cap_leaves_short_text_alone() -> None:
    assert cap("short", 10) == "short"
    assert cap("0123456789abc", 10) == "0123456789...[3 more characters cut]"
