"""Logging set-up: human-readable locally, one JSON object per line elsewhere; secrets never logged.

Every line passes the process's scrubber (`runtime.observability.telemetry.scrubber()`): the message with
its arguments, and the exception text. A line carries at most `MAX_MESSAGE_CHARS` of message
(`MAX_TRACE_CHARS` of traceback): a 1 MB URL in an access-log line must cost no more than a short
one, and fill no disk. The text is cut at twice the cap before scrubbing (scrubbing is linear, see
`runtime/observability/scrub.py`) and at the cap after, so a secret of up to the cap's length cut in two by the
first cut is never half-logged. JSON lines carry `component`, `environment` and `trace`
(`extra={"trace": ...}`; null when not given).
"""

from __future__ import annotations

import logging
import sys
import time

import orjson

from runtime.observability.scrub import Scrubber, cap, scrubber

MAX_MESSAGE_CHARS = 8192
MAX_TRACE_CHARS = 32_768

class ScrubFilter(logging.Filter):
    """Formats the message with its args, then scrubs it (and the exception text) in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        scrub = scrubber()
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # bad %-args: log what we have rather than drop the line
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = _clean(scrub, message, MAX_MESSAGE_CHARS), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = _clean(scrub, record.exc_text, MAX_TRACE_CHARS)
        if record.stack_info:
            record.stack_info = _clean(scrub, record.stack_info, MAX_TRACE_CHARS)
        return True


def _clean(scrub: Scrubber, text: str, limit: int) -> str:
    return cap(scrub.text(text[: 2 * limit]), limit)


class JsonFormatter(logging.Formatter):
    def __init__(self, component: str | None = None, environment: str | None = None) -> None:
        super().__init__()
        self.converter = time.gmtime
        self.component = component
        self.environment = environment

    def format(self, record: logging.LogRecord) -> str:
        body = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
            "component": self.component, "environment": self.environment,
            "trace": getattr(record, "trace", None),
        }
        if record.exc_info or record.exc_text:
            body["exc"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        return orjson.dumps(body).decode()


def setup_logging(level: str = "INFO", json_lines: bool = False, *,
                  component: str | None = None, environment: str | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        formatter: logging.Formatter = JsonFormatter(component, environment)
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(formatter)
    handler.addFilter(ScrubFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "httpx", "websockets", "botocore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
