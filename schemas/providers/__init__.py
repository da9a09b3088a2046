"""Provider normalizers, one module per provider, found by discovery rather than a central list.

A provider module registers each of its feeds with `@feed("provider", "slug")` on a pure
function `(payload, params) -> list[CanonicalRecord]`. `load_all()` imports every module in
this package once, so adding a provider means adding a file. Payloads are already-decoded
JSON values (dict/list) or, for XML feeds, `str`.

A provider's teams/participants/competitors response (reference data, `schemas/reference.py`) is
parsed by a function it registers with `@reference("provider")`: `(payload, params) -> list[TeamReference]`
(params carry at least `sport`).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from schemas.canonical import CanonicalRecord
from schemas.errors import NormalizationError, UnknownFeedError
from schemas.reference import TeamReference

Normalizer = Callable[[Any, Mapping[str, str]], list[CanonicalRecord]]
ReferenceParser = Callable[[Any, Mapping[str, str]], list[TeamReference]]


@dataclass(frozen=True, slots=True)
class Feed:
    provider: str
    slug: str
    normalize: Normalizer
    content_type: str  # "json" or "xml"
    description: str


_FEEDS: dict[tuple[str, str], Feed] = {}
_LOADED: set[str] = set()
_REFERENCE: dict[str, ReferenceParser] = {}
REFERENCE_FEED = "teams"  # the feed slug of reference fetches (they have no normalizer)


def feed(provider: str, slug: str, *, content_type: str = "json") -> Callable[[Normalizer], Normalizer]:
    def register(fn: Normalizer) -> Normalizer:
        key = (provider, slug)
        existing = _FEEDS.get(key)
        if existing is not None and existing.normalize is not fn:
            raise RuntimeError(f"feed {provider}/{slug} registered twice")
        doc = (fn.__doc__ or "").strip().splitlines()
        _FEEDS[key] = Feed(provider, slug, fn, content_type, doc[0] if doc else "")
        return fn

    return register


def load_all() -> None:
    """Import every provider module of this package (once: this is on the hot path)."""
    if "*" in _LOADED:
        return
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_") and info.name not in _LOADED:
            importlib.import_module(f"{__name__}.{info.name}")
            _LOADED.add(info.name)
    _LOADED.add("*")


def get_feed(provider: str, slug: str) -> Feed:
    load_all()
    try:
        return _FEEDS[(provider, slug)]
    except KeyError:
        raise UnknownFeedError(provider, slug) from None


def all_feeds() -> list[Feed]:
    load_all()
    return sorted(_FEEDS.values(), key=lambda f: (f.provider, f.slug))


def providers() -> list[str]:
    return sorted({f.provider for f in all_feeds()})


def normalize(
    provider: str, slug: str, payload: Any, params: Mapping[str, str] | None = None
) -> list[CanonicalRecord]:
    """Run a feed's normalizer; any failure surfaces as `NormalizationError` and nothing else."""
    entry = get_feed(provider, slug)
    try:
        return entry.normalize(payload, params or {})
    except NormalizationError:
        raise
    except Exception as exc:
        raise NormalizationError(provider, slug, f"{type(exc).__name__}: {exc}") from exc


def reference(provider: str) -> Callable[[ReferenceParser], ReferenceParser]:
    """Register `provider`'s parser of its teams/participants/competitors response."""
    def register(fn: ReferenceParser) -> ReferenceParser:
        existing = _REFERENCE.get(provider)
        if existing is not None and existing is not fn:
            raise RuntimeError(f"reference parser of {provider} registered twice")
        _REFERENCE[provider] = fn
        return fn

    return register


def reference_providers() -> list[str]:
    load_all()
    return sorted(_REFERENCE)


def parse_reference(provider: str, payload: Any, params: Mapping[str, str]) -> list[TeamReference]:
    """Run a provider's reference parser; any failure surfaces as `NormalizationError` (feed `teams`)."""
    load_all()
    parser = _REFERENCE.get(provider)
    if parser is None:
        raise UnknownFeedError(provider, REFERENCE_FEED)
    try:
        return parser(payload, params)
    except NormalizationError:
        raise
    except Exception as exc:
        raise NormalizationError(provider, REFERENCE_FEED, f"{type(exc).__name__}: {exc}") from exc
