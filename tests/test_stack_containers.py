"""The containers stack (`pytest --stack=containers`): its wiring, tested without a Docker engine.

This machine has none, so what is checked here is what can be: the selection logic, the container
definitions testcontainers builds (images, KRaft at the MSK version, ports bound to loopback,
settings), the start/wait/stop sequence against fake containers, and that pytest refuses the option
with a clear error when no engine answers.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from runtime.settings import Settings
from tests import stack_containers as sc
from tests.conftest import ROOT
from tests.terraform.hcl import blocks
from tests.terraform.test_structure import _pom_kafka_version, settings_field

PORTS = {"kafka": 19092, "dynamodb": 14566, "s3": 18333, "rabbitmq": 15672}


def test_native_is_the_default_and_the_option_beats_the_environment() -> None:
    assert sc.selected(None, {}) == "native"
    assert sc.selected(None, {sc.ENV_VAR: "containers"}) == "containers"
    assert sc.selected("native", {sc.ENV_VAR: "containers"}) == "native"
    assert sc.selected("Containers ", {}) == "containers"
    with pytest.raises(ValueError, match="unknown stack 'docker'"):
        sc.selected("docker", {})


def test_kafka_runs_kraft_at_the_version_msk_and_the_native_stack_run() -> None:
    kafka = {s.name: s for s in sc.specs(PORTS)}["kafka"]
    assert kafka.image == f"apache/kafka:{_pom_kafka_version()}"
    msk = blocks(None, "module", "msk")["msk"]["kafka_version"]  # e.g. 4.1.x.kraft
    assert msk.startswith(".".join(_pom_kafka_version().split(".")[:2]) + ".")
    assert kafka.env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert not [k for k in kafka.env if "ZOOKEEPER" in k]
    assert f"HOST://127.0.0.1:{PORTS['kafka']}" in kafka.env["KAFKA_ADVERTISED_LISTENERS"]
    assert ":29092" in kafka.env["KAFKA_LISTENERS"]
    assert kafka.port == 29092
    assert kafka.env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_the_same_servers_as_the_native_stack() -> None:
    from pipeline.stack import services

    assert {s.name for s in sc.specs(PORTS)} == {s.name for s in services.services(Settings())} == set(sc.SERVICES)


def test_testcontainers_builds_each_container_bound_to_loopback() -> None:
    """Real testcontainers objects (a fixed API version avoids asking an engine for its own)."""
    for spec in sc.specs(PORTS):
        container = sc.docker_container(spec, PORTS[spec.name], client_kw={"version": "1.41"})
        assert container.image == spec.image
        assert container.ports == {str(spec.port): ("127.0.0.1", PORTS[spec.name])}
        assert container.env == spec.env
    rabbit = {s.name: s for s in sc.specs(PORTS)}["rabbitmq"]
    assert "loopback_users []" in rabbit.env["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"]  # guest from the host


def test_the_environment_points_every_setting_at_the_containers(monkeypatch: pytest.MonkeyPatch) -> None:
    env = sc.environment(PORTS)
    for name in env:
        settings_field(name)  # a real setting, or KeyError
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.kafka.bootstrap_servers == "127.0.0.1:19092"
    assert settings.aws.endpoint_url_dynamodb == "http://127.0.0.1:14566"
    assert settings.aws.endpoint_url_s3 == "http://127.0.0.1:18333"
    assert settings.stack.rabbitmq_port == 15672
    assert settings.stack.kafka_port == 19092


class FakeContainer:
    def __init__(self, spec: sc.ContainerSpec, port: int, log: list[str], fail: str | None) -> None:
        self.spec, self.port, self.log, self.fail = spec, port, log, fail

    def start(self) -> FakeContainer:
        if self.spec.name == self.fail:
            raise RuntimeError(f"{self.spec.name} failed to start")
        self.log.append(f"start {self.spec.name}:{self.port}")
        return self

    def stop(self) -> None:
        self.log.append(f"stop {self.spec.name}")


def stack(log: list[str], *, fail: str | None = None, healthy_after: int = 2, engine: str | None = None,
          never: str | None = None) -> sc.ContainerStack:
    calls: dict[str, int] = {}

    def probe(ports: object) -> dict:
        def check(name: str) -> bool:
            calls[name] = calls.get(name, 0) + 1
            return name != never and calls[name] >= healthy_after
        return {name: (lambda n=name: check(n)) for name in sc.SERVICES}

    return sc.ContainerStack(PORTS, build=lambda spec, port: FakeContainer(spec, port, log, fail),
                             check_engine=lambda: engine, probe=probe)


def test_start_builds_and_starts_each_container_then_waits_until_healthy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sc.time, "sleep", lambda _s: None)
    log: list[str] = []
    containers = stack(log)
    containers.start()
    assert log == [f"start {name}:{PORTS[name]}" for name in sc.SERVICES]
    assert containers.healthy() == dict.fromkeys(sc.SERVICES, True)
    containers.stop()
    assert log[-4:] == [f"stop {name}" for name in reversed(sc.SERVICES)]


def test_a_failed_start_stops_what_was_started() -> None:
    log: list[str] = []
    with pytest.raises(RuntimeError, match="s3 failed"):
        stack(log, fail="s3").start()
    assert log == ["start kafka:19092", "start dynamodb:14566", "stop s3", "stop dynamodb", "stop kafka"]


def test_an_unhealthy_server_is_named_and_everything_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sc.time, "sleep", lambda _s: None)
    log: list[str] = []
    clock = iter(range(1000))
    monkeypatch.setattr(sc.time, "monotonic", lambda: next(clock))
    with pytest.raises(sc.ContainerStackError, match=r"not healthy after 5s: rabbitmq$"):
        stack(log, never="rabbitmq").start(timeout_s=5)
    assert log[-1] == "stop kafka"


def test_without_an_engine_nothing_is_built() -> None:
    log: list[str] = []
    with pytest.raises(sc.ContainerStackError, match="needs a Docker engine"):
        stack(log, engine="FileNotFoundError: no socket").start()
    assert log == []


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--stack=containers"], {}, r"--stack=containers needs a Docker engine"),
    ([], {sc.ENV_VAR: "containers"}, r"--stack=containers needs a Docker engine"),
    ([], {sc.ENV_VAR: "podman"}, r"unknown stack 'podman'"),
])
def test_pytest_refuses_the_containers_stack_without_an_engine(args: list[str], env: dict[str, str],
                                                              message: str) -> None:
    """From outside: a pytest run asked for containers on this engine-less machine stops with a usage error."""
    if sc.docker_available() is None:
        pytest.skip("a Docker engine answers here: the containers stack would start")
    clean = {k: v for k, v in os.environ.items() if k != sc.ENV_VAR}
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--co", *args,
                          "tests/test_readme.py"], cwd=ROOT, env={**clean, **env}, capture_output=True,
                         text=True, timeout=120, check=False)
    assert run.returncode == pytest.ExitCode.USAGE_ERROR, run.stdout + run.stderr
    assert re.search(message, run.stderr), run.stderr
