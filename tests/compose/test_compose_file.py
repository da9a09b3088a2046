"""docker-compose.yml checked the same way on every machine.

The file is validated against the Compose Specification's published JSON Schema (committed beside this
test, see SOURCE.md), so the answer does not depend on whether a Docker engine, the `docker compose`
plugin or Debian's old `docker-compose` happens to be installed. The structural assertions below are the
project's own: what the schema cannot know about how Sportsflow wires its services.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from pipeline.cli import main as cli

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((HERE / "compose-spec.json").read_text())
    return schema


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return compose


def _errors(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(_schema())
    errors = validator.iter_errors(document)
    return sorted(f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors)


def test_compose_file_matches_the_compose_specification() -> None:
    """docker-compose.yml is valid against the committed Compose Specification schema."""
    assert _errors(_compose()) == []


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        (("services", "worker", "depends_on"), 5, "depends_on"),
        (("services", "api", "ports"), "8080:8080", "ports"),
        (("services", "api", "no_such_key"), True, "no_such_key"),
    ],
)
def test_the_schema_check_rejects_a_broken_file(path: tuple[str, ...], value: object, fragment: str) -> None:
    """The check can fail: a wrong value or an unknown key is reported with its path."""
    broken = _compose()
    node = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    errors = _errors(broken)
    assert any(fragment in e for e in errors), errors


def _services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = _compose()["services"]
    return services


def test_published_ports_bind_to_loopback() -> None:
    """Like the native stack, the compose stack is reachable from this machine only."""
    for name, service in _services().items():
        for port in service.get("ports", []):
            spec = port if isinstance(port, str) else f"{port.get('host_ip', '')}:{port.get('published', '')}"
            assert spec.startswith("127.0.0.1:"), f"{name} publishes {spec!r} beyond loopback"


def _has_health_check(service: dict[str, Any]) -> bool:
    """A check in the file, or the HEALTHCHECK of the repo's Dockerfile for services built from it."""
    check = service.get("healthcheck")
    if check is not None:
        return not check.get("disable", False)
    dockerfile = service.get("build", {}).get("dockerfile")
    return bool(dockerfile) and "HEALTHCHECK " in (ROOT / dockerfile).read_text()


def test_dependencies_name_existing_services_and_wait_for_health() -> None:
    """Every `depends_on` names a service of the file, and waits for one that has a health check."""
    services = _services()
    for name, service in services.items():
        depends = service.get("depends_on", {})
        targets = depends if isinstance(depends, dict) else {d: {} for d in depends}
        for target, condition in targets.items():
            assert target in services, f"{name} depends on unknown service {target}"
            wanted = (condition or {}).get("condition", "service_started")
            if wanted == "service_healthy":
                assert _has_health_check(services[target]), f"{name} waits for {target}'s health, which has no check"


def test_app_services_run_the_sportsflow_cli_from_the_repo_image() -> None:
    """The Sportsflow processes are built from this repo's Dockerfile and start a real CLI command."""
    app = {n: s for n, s in _services().items() if s.get("image") == "sportsflow:local"}
    assert {"worker", "broadcaster", "api", "connectors"} <= set(app)
    commands = set(cli.commands)
    for name, service in app.items():
        assert service["build"]["dockerfile"] == "Dockerfile", name
        assert (ROOT / service["build"]["dockerfile"]).is_file()
        if "entrypoint" in service:  # a one-shot that runs its own entry point (provisioning)
            continue
        assert service["command"][0] in commands, f"{name} runs {service['command']}, not a `sportsflow` command"
