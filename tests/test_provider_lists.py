"""Every list outside a provider's own files that names providers is derived from the registry or checked here.

A new provider is its own files (README "Adding a provider"): `connectors/<name>.py`,
`schemas/providers/<name>.py`, `connectors/simulator/<name>.py`, `tests/fixtures/<name>/` and its tests.
The lists that cannot import Python (Terraform, demo.env) are checked for drift, with the fix in the message.
"""

from __future__ import annotations

import re

import hcl2

from connectors.registry import all_connectors
from runtime.settings import DEFAULT_PRIORITY
from schemas.providers import providers
from tests.conftest import FIXTURES, ROOT

REGISTRY = sorted(all_connectors())


def test_connectors_and_normalizers_name_the_same_providers() -> None:
    """A provider has both halves: a connector (how to fetch) and normalizers (what it means)."""
    assert sorted(providers()) == REGISTRY
    assert len(REGISTRY) >= 6


def test_terraform_names_every_provider() -> None:
    """Terraform's `local.providers` (raw topics, IAM, secrets) is the registry: edit terraform/main.tf if not."""
    with (ROOT / "terraform" / "main.tf").open() as handle:
        config = hcl2.load(handle)
    [local] = [block for block in config["locals"] if "providers" in block]
    named = sorted(p.strip('"') for p in local["providers"])
    assert named == REGISTRY, "add/remove the provider in terraform/main.tf `local.providers`"


def test_the_demo_environment_points_every_provider_at_the_simulator() -> None:
    """demo.env (shared by `make run` and compose) configures exactly the registry's providers."""
    names = set(re.findall(r"^SPORTSFLOW_PROVIDERS__([A-Z0-9_]+?)__BASE_URL=", (ROOT / "demo.env").read_text(), re.M))
    assert sorted(n.lower() for n in names) == REGISTRY, "add the provider's block to demo.env"


def test_default_priorities_rank_every_provider() -> None:
    """Every provider (or one of its feeds) has a place in the default precedence, and nothing else does."""
    ranked = {entry.split("/", 1)[0] for entry in DEFAULT_PRIORITY}
    assert sorted(ranked) == REGISTRY, "rank the provider in DEFAULT_PRIORITY (settings)"


def test_the_simulator_serves_every_provider() -> None:
    """Each provider has a simulator module (found by discovery in connectors/simulator/server.py)."""
    simulated = {p.stem for p in (ROOT / "connectors" / "simulator").glob("*.py")}
    missing = set(REGISTRY) - simulated
    assert not missing, f"add connectors/simulator/<name>.py for {sorted(missing)}"


def test_every_provider_has_fixtures_and_tests_of_its_own() -> None:
    """Recorded payloads with their provenance, and the provider's own connector and normalizer tests."""
    for name in REGISTRY:
        assert (FIXTURES / name / "manifest.json").is_file(), f"tests/fixtures/{name}/manifest.json"
        assert (ROOT / "tests" / "schemas" / f"test_{name}.py").is_file(), f"tests/schemas/test_{name}.py"
        assert (ROOT / "tests" / "connectors" / f"test_{name}.py").is_file(), f"tests/connectors/test_{name}.py"
