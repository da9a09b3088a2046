"""JSON log lines carry component, environment and trace; secrets never reach a log line."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from runtime.observability.logs import setup_logging
from runtime.observability.scrub import register_secrets

SECRET = "logs-provider-key-4c3b2a1f"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
EMAIL = "ops.person@example.org"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line]


def test_json_line_has_fields_and_no_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    """A JSON line has ts/level/logger/message/component/environment/trace; key, JWT and email are filtered."""
    register_secrets(SECRET)
    setup_logging("INFO", json_lines=True, component="connectors", environment="prod")
    log = logging.getLogger("connectors.theoddsapi")
    log.warning("GET %s as %s with %s", f"/v4/odds?apiKey={SECRET}&regions=us", EMAIL, {"token": JWT},
                extra={"trace": "rec-123"})
    log.info("plain", extra={"trace": "explicit-1"})
    (first, second) = (json.loads(line) for line in _lines(capsys))
    assert {"ts", "level", "logger", "message", "component", "environment", "trace"} <= set(first)
    assert (first["component"], first["environment"], first["trace"]) == ("connectors", "prod", "rec-123")
    assert first["level"] == "WARNING"
    assert first["ts"].endswith("Z")
    assert "regions=us" in first["message"]
    for secret in (SECRET, JWT, EMAIL):
        assert secret not in first["message"]
    assert second["trace"] == "explicit-1"


def test_exception_text_is_scrubbed(capsys: pytest.CaptureFixture[str]) -> None:
    """A traceback whose message holds a secret is filtered too."""
    register_secrets(SECRET)
    setup_logging("INFO", json_lines=True, component="worker", environment="dev")
    try:
        raise RuntimeError(f"provider said no to {SECRET}")
    except RuntimeError:
        logging.getLogger("x").exception("failed for %s", EMAIL)
    (line,) = _lines(capsys)
    body = json.loads(line)
    assert "RuntimeError" in body["exc"]
    assert body["trace"] is None
    assert SECRET not in line
    assert EMAIL not in line


def test_human_format_locally_is_scrubbed_too(capsys: pytest.CaptureFixture[str]) -> None:
    """Locally lines stay human-readable (not JSON) and are scrubbed the same way."""
    register_secrets(SECRET)
    setup_logging("INFO", json_lines=False)
    logging.getLogger("pipeline.test").info("key %s for %s", SECRET, EMAIL)
    (line,) = _lines(capsys)
    assert " INFO pipeline.test: key [Filtered] for [email]" in line
    assert not line.startswith("{")
