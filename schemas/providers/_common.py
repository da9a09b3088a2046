"""Helpers shared by provider normalizers: validation with located errors, team slugs, ids."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from schemas.envelope import RECEIVED_AT_PARAM
from schemas.errors import NormalizationError
from schemas.reference import TeamReference

M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], data: Any, provider: str, feed: str, path: str = "$") -> M:
    """Validate `data` against a raw model; the error names the first failing path."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
        raise NormalizationError(provider, feed, first["msg"], f"{path}{loc}") from exc


def expect_list(data: Any, provider: str, feed: str, path: str = "$") -> list[Any]:
    if not isinstance(data, list):
        raise NormalizationError(provider, feed, f"expected a JSON array, got {type(data).__name__}", path)
    return data


def slug(text: str) -> str:
    """'Manchester United F.C.' -> 'manchester-united-f-c': stable keys from display names."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def provisional_event_id(provider: str, provider_event_id: str) -> str:
    """Normalizers name events by provider; entity resolution maps them to canonical ids."""
    return f"{provider}:{provider_event_id}"


def text(value: Any) -> str | None:
    """A reference field as text; absent or empty is None."""
    return str(value) if value not in (None, "") else None


def team_reference(provider: str, params: Mapping[str, str], team_id: Any, name: Any, *, short_name: Any = None,
                   abbreviation: Any = None, kind: str = "team") -> TeamReference:
    """One provider team of a reference response; `params` carry the sport (and competition) of the list."""
    return TeamReference.model_validate({
        "provider": provider, "sport": params["sport"], "kind": kind, "teamId": text(team_id), "name": text(name),
        "shortName": text(short_name), "abbreviation": text(abbreviation), "competition": params.get("competition"),
        "fetchedAt": params.get(RECEIVED_AT_PARAM),
    })
