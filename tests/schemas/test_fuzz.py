"""Fuzzing every registered feed: random and truncated payloads yield NormalizationError, nothing else."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.errors import NormalizationError
from schemas.providers import all_feeds, normalize
from tests.conftest import FIXTURES

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25,
)


def manifest_entries() -> list[tuple[str, dict]]:
    entries = []
    for manifest in sorted(FIXTURES.glob("*/manifest.json")):
        for entry in json.loads(manifest.read_text()):
            entries.append((manifest.parent.name, entry))
    return entries


def load(provider: str, entry: dict):
    text = (FIXTURES / provider / entry["file"]).read_text()
    return text if entry["file"].endswith(".xml") else json.loads(text)


def test_every_feed_has_a_fixture():
    """Each registered provider/feed is exercised by at least one committed sample."""
    covered = {(provider, entry["feed"]) for provider, entry in manifest_entries()}
    registered = {(f.provider, f.slug) for f in all_feeds()}
    assert registered - covered == set()


def _entry_id(value: object) -> str:
    return value if isinstance(value, str) else str(value["file"])  # type: ignore[index]


@pytest.mark.parametrize(("provider", "entry"), manifest_entries(), ids=_entry_id)
def test_every_sample_normalizes(provider, entry):
    """Every committed sample normalizes without error into valid canonical records."""
    records = normalize(provider, entry["feed"], load(provider, entry), entry.get("params", {}))
    for record in records:
        assert record.provider == provider
        assert record.to_json().startswith(b"{")


@pytest.mark.parametrize("feed", all_feeds(), ids=lambda f: f"{f.provider}/{f.slug}")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=json_values)
def test_random_json_gives_the_typed_error(feed, payload):
    """Arbitrary JSON either normalizes or raises NormalizationError naming provider and feed."""
    if feed.content_type == "xml":
        payload = json.dumps(payload)
    try:
        normalize(feed.provider, feed.slug, payload, {})
    except NormalizationError as exc:
        error = exc
    else:
        return
    assert (error.provider, error.feed) == (feed.provider, feed.slug)
    assert error.path


def _entry_id(value: object) -> str:
    return value if isinstance(value, str) else str(value["file"])  # type: ignore[index]


@pytest.mark.parametrize(("provider", "entry"), manifest_entries(), ids=_entry_id)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.floats(min_value=0.0, max_value=0.999))
def test_truncated_samples_give_the_typed_error(provider, entry, cut):
    """A sample cut anywhere (then decoded as far as possible) never raises anything but the typed error."""
    text = (FIXTURES / provider / entry["file"]).read_text()
    truncated = text[: int(len(text) * cut)]
    if entry["file"].endswith(".xml"):
        payload = truncated
    else:
        try:
            payload = json.loads(truncated)
        except json.JSONDecodeError:
            payload = truncated  # a provider body that is not JSON at all
    try:
        normalize(provider, entry["feed"], payload, entry.get("params", {}))
    except NormalizationError as exc:
        error = exc
    else:
        return
    assert error.provider == provider
