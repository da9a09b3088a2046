"""`sportsflow normalize`: run a provider payload through its normalizer and print JSON lines."""

from __future__ import annotations

import sys
from typing import IO, Any

import click
import orjson

from schemas.errors import NormalizationError
from schemas.providers import all_feeds, get_feed, normalize


def run_normalize(
    provider: str | None, feed: str | None, params: tuple[str, ...], list_feeds: bool, file: IO[bytes] | Any
) -> int:
    if list_feeds:
        for entry in all_feeds():
            click.echo(f"{entry.provider}\t{entry.slug}\t{entry.content_type}\t{entry.description}")
        return 0
    if not provider or not feed or file is None:
        click.echo("error: --provider, --feed and FILE are required (or --list)", err=True)
        return 2
    parsed: dict[str, str] = {}
    for item in params:
        key, sep, value = item.partition("=")
        if not sep:
            click.echo(f"error: --param {item!r} is not key=value", err=True)
            return 2
        parsed[key] = value
    try:
        entry = get_feed(provider, feed)
        body = file.read()
        if entry.content_type == "xml":
            payload: Any = body.decode("utf-8")
        else:
            try:
                payload = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise NormalizationError(provider, feed, f"not JSON: {exc}") from None
        records = normalize(provider, feed, payload, parsed)
    except NormalizationError as exc:
        click.echo(f"error: {exc}", err=True)
        return 2
    except UnicodeDecodeError as exc:
        click.echo(f"error: {provider}/{feed}: not UTF-8 text: {exc}", err=True)
        return 2
    out = sys.stdout.buffer
    for record in records:
        out.write(record.to_json() + b"\n")
    out.flush()
    return 0
