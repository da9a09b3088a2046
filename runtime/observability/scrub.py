"""The secret scrubber shared by the logs and Sentry: linear time on any input.

Every pattern can start a match only at the beginning of a run of its characters (a lookbehind),
and consumes runs possessively, so no input makes the regex engine try the same characters again
from many starting points: a 1 MB run of word characters costs one pass, not a million. Names of
`name: value` pairs are matched as whole tokens and then checked with a plain substring search.
Known secret values (the settings' `SecretStr`s, keys learned at run time) are removed with
`str.replace`, longest first. `cap()` bounds what one log line may carry.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

from pydantic import BaseModel, SecretStr

from runtime.settings import Settings

FILTERED: Final = "[Filtered]"
# Normalized (lower case, no '-' or '_') field names whose values are secret.
_SECRET_NAME = re.compile(
    r"apikey|token|secret|passw|authorization|dsn|subscriptionkey|apisportskey|accesskey|privatekey|cookie|"
    r"credential|signature"
)
_EXACT_SECRET_NAMES: Final = frozenset({"key", "auth", "sig", "pwd"})
# A free-text `name: value` / `name=value` / "name": "value" is secret when `name` contains one of these.
_FREE_TEXT_NAME = re.compile(r"api[_-]?key|apikey|token|secret|passw(?:or)?d|authorization|dsn|subscription-key|"
                             r"apisports-key", re.IGNORECASE)
_PAIR = re.compile(r"(?<![\w.-])([\w.-]++[\"']?+\s*+[:=]\s*+[\"']?+)([^\s\"',;&}]++)")
_PATTERNS: Final = (
    # JWTs (header.payload.signature, base64url)
    (re.compile(r"(?<![\w-])eyJ[\w-]++\.[\w-]++\.[\w-]*+"), "[JWT]"),
    (re.compile(r"(?i)(?<![\w.-])bearer\s++[\w.~+/=-]++"), "Bearer " + FILTERED),
    # query strings: ?apiKey=..&key=..&token=..
    (re.compile(r"(?i)((?:^|[?&;\s])(?:api_?key|key|token|access_token|secret|password|sig|signature|"
                r"x-amz-signature|x-amz-credential|x-amz-security-token)=)[^&#\s\"']++"), r"\1" + FILTERED),
    (re.compile(r"(?<![\w])(?:AKIA|ASIA)[A-Z0-9]{16}(?![\w])"), FILTERED),  # AWS access key ids
    (re.compile(r"(?<![\w.%+-])[\w.%+-]++@(?:[A-Za-z0-9-]++\.)++[A-Za-z]{2,}+"), "[email]"),
)
_HEADER = re.compile(r"[\w.-]{1,64}")
_MIN_LITERAL: Final = 6  # shorter "secrets" (test fixtures, empty strings) would shred ordinary text


def secret_name(name: str) -> bool:
    normalized = name[:200].lower().replace("-", "").replace("_", "")
    return normalized in _EXACT_SECRET_NAMES or _SECRET_NAME.search(normalized) is not None


def _pair(match: re.Match[str]) -> str:
    head = match.group(1)
    return head + FILTERED if _FREE_TEXT_NAME.search(head) else match.group(0)


def cap(text: str, limit: int) -> str:
    """At most `limit` characters of `text`, saying how many were cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...[{len(text) - limit} more characters cut]"


class Scrubber:
    """Removes secrets and PII from strings and nested event/log data, in time linear in the input."""

    def __init__(self, literals: Iterable[str] = ()) -> None:
        self._literals: tuple[str, ...] = ()
        self.add(*literals)

    def add(self, *literals: str) -> None:
        """Also filter these exact values (e.g. keys read from Secrets Manager at run time)."""
        known = set(self._literals) | {v for v in literals if len(v) >= _MIN_LITERAL}
        self._literals = tuple(sorted(known, key=len, reverse=True))

    def text(self, value: str) -> str:
        for literal in self._literals:
            if literal in value:
                value = value.replace(literal, FILTERED)
        for pattern, replacement in _PATTERNS:
            value = pattern.sub(replacement, value)
        return _PAIR.sub(_pair, value)

    def data(self, value: Any) -> Any:
        """A copy of `value` (dicts, lists, strings) with secret fields and strings filtered."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {k: FILTERED if isinstance(k, str) and secret_name(k) and value[k] not in (None, "")
                    else self.data(value[k]) for k in value}
        if isinstance(value, list | tuple):
            if len(value) == 2 and isinstance(value[0], str) and _HEADER.fullmatch(value[0]) \
                    and secret_name(value[0]):
                return [value[0], FILTERED]  # a (header, value) pair
            return [self.data(item) for item in value]
        return value


# An access key id is an identifier, not a secret (AWS documents it so); its local default is
# "sportsflow", which would otherwise be filtered out of every logger and topic name.
_NOT_SECRET: Final = frozenset({"aws.access_key_id"})


def scrubber_from_settings(settings: Settings) -> Scrubber:
    return Scrubber(_secret_values(settings, ""))


def _secret_values(model: Any, path: str) -> Iterator[str]:
    if isinstance(model, SecretStr):
        if path not in _NOT_SECRET:
            yield model.get_secret_value()
    elif isinstance(model, BaseModel):
        for name in type(model).model_fields:
            yield from _secret_values(getattr(model, name), f"{path}.{name}".lstrip("."))
    elif isinstance(model, Mapping):
        for name, item in model.items():
            yield from _secret_values(item, f"{path}.{name}")
    elif isinstance(model, list | tuple):
        for item in model:
            yield from _secret_values(item, path)


_scrubber = Scrubber()


def scrubber() -> Scrubber:
    """The process's scrubber (patterns only until `setup_process` adds the settings' secrets)."""
    return _scrubber


def register_secrets(*values: str) -> None:
    """Secrets learned at run time (Secrets Manager) are filtered from logs and Sentry from now on."""
    _scrubber.add(*values)
