"""The test stack from containers: `pytest --stack=containers` (or SPORTSFLOW_TEST_STACK=containers).

For machines with a Docker engine and without the native stack (`sportsflow stack up`). The same four
servers, from images, through testcontainers: Kafka in KRaft mode at the version the native stack and
MSK run (pipeline/stack/pom.xml), moto as the DynamoDB-API server, SeaweedFS as the S3 server, and
RabbitMQ. Each container's port is bound to a free port on 127.0.0.1, and the suite is pointed at them
through the same SPORTSFLOW_* settings the native stack uses, so the integration tests (and the
processes they start, which inherit the environment) run unchanged on either stack. Health is judged
by the native stack's own probes (a Kafka metadata request, the moto API, an S3 ListBuckets, an
AMQP connection).
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pipeline.stack.kafka import kafka_healthy, kafka_version
from pipeline.stack.services import _http_ok, _s3_ok

StackKind = Literal["native", "containers"]
STACKS: tuple[StackKind, ...] = ("native", "containers")
ENV_VAR = "SPORTSFLOW_TEST_STACK"
SERVICES = ("kafka", "dynamodb", "s3", "rabbitmq")
AMQP_USER = "guest"  # what the AMQP tests log in as (tests/connectors/amqp_support.py)


class ContainerStackError(RuntimeError):
    """The containers stack cannot run here (no Docker engine) or did not become healthy."""


def selected(option: str | None, env: Mapping[str, str]) -> StackKind:
    """The stack the run uses: the --stack option, else SPORTSFLOW_TEST_STACK, else native."""
    choice = (option or env.get(ENV_VAR) or "native").strip().lower()
    if choice not in STACKS:
        raise ValueError(f"unknown stack {choice!r}: use one of {', '.join(STACKS)}")
    return choice  # type: ignore[return-value]  # checked against STACKS just above


@dataclass(frozen=True)
class ContainerSpec:
    """One server's container: image, the port the suite reaches, environment and command."""

    name: str
    image: str
    port: int  # inside the container; bound to a free port on 127.0.0.1
    env: dict[str, str] = field(default_factory=dict)
    command: list[str] | None = None


def specs(ports: Mapping[str, int]) -> list[ContainerSpec]:
    """The four servers; `ports`: the host port each one is bound to (Kafka advertises its own)."""
    kafka_host_port = ports["kafka"]
    return [
        ContainerSpec("kafka", f"apache/kafka:{kafka_version()}", 29092, {
            # One KRaft node (broker and controller, no ZooKeeper): brokers talk on 9092 inside the
            # container; host clients use HOST, advertised at the bound port.
            "CLUSTER_ID": "c3BvcnRzZmxvdy10ZXN0cw",  # 16 bytes, base64url: what `kafka-storage format` takes
            "KAFKA_NODE_ID": "1",
            "KAFKA_PROCESS_ROLES": "broker,controller",
            "KAFKA_LISTENERS": "PLAINTEXT://:9092,CONTROLLER://:9093,HOST://:29092",
            "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://localhost:9092,HOST://127.0.0.1:{kafka_host_port}",
            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,HOST:PLAINTEXT",
            "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
            "KAFKA_INTER_BROKER_LISTENER_NAME": "PLAINTEXT",
            "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
            "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
            "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
            "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
            "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
            # As on MSK and the native stack: the app creates its topics, a typo fails loudly.
            "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
        }),
        ContainerSpec("dynamodb", "motoserver/moto:5.2.5", 4566, {"MOTO_PORT": "4566"},
                      ["-H", "0.0.0.0", "-p", "4566"]),
        ContainerSpec("s3", "chrislusf/seaweedfs:4.48", 8333, {}, [
            "mini", "-dir=/data", "-ip=127.0.0.1", "-ip.bind=0.0.0.0", "-s3.port=8333", "-admin.ui=false",
            "-webdav=false"]),
        ContainerSpec("rabbitmq", "rabbitmq:3-management", 5672, {
            # The tests log in as guest, which RabbitMQ allows only from loopback unless told otherwise:
            # through a published port the connection comes from the bridge network.
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-rabbit loopback_users []",
        }),
    ]


def environment(ports: Mapping[str, int]) -> dict[str, str]:
    """The SPORTSFLOW_* settings that point the suite (and the processes it starts) at the containers."""
    return {
        "SPORTSFLOW_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{ports['kafka']}",
        "SPORTSFLOW_AWS__ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{ports['dynamodb']}",
        "SPORTSFLOW_AWS__ENDPOINT_URL_S3": f"http://127.0.0.1:{ports['s3']}",
        "SPORTSFLOW_STACK__KAFKA_PORT": str(ports["kafka"]),
        "SPORTSFLOW_STACK__DYNAMODB_PORT": str(ports["dynamodb"]),
        "SPORTSFLOW_STACK__S3_PORT": str(ports["s3"]),
        "SPORTSFLOW_STACK__RABBITMQ_PORT": str(ports["rabbitmq"]),
    }


def _amqp_ok(port: int) -> bool:
    """The AMQP handshake starts: the server answers a protocol header with Connection.Start."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"AMQP\x00\x00\x09\x01")
            return sock.recv(1)[:1] == b"\x01"  # a method frame
    except OSError:
        return False


def probes(ports: Mapping[str, int]) -> dict[str, Callable[[], bool]]:
    """Each server's health check, at its bound port."""
    return {
        "kafka": lambda: kafka_healthy(f"127.0.0.1:{ports['kafka']}"),
        "dynamodb": lambda: _http_ok(f"http://127.0.0.1:{ports['dynamodb']}/moto-api/"),
        "s3": lambda: _s3_ok(f"http://127.0.0.1:{ports['s3']}"),
        "rabbitmq": lambda: _amqp_ok(ports["rabbitmq"]),
    }


def free_ports(names: tuple[str, ...] = SERVICES) -> dict[str, int]:
    ports: dict[str, int] = {}
    for name in names:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports[name] = int(sock.getsockname()[1])
    return ports


def docker_container(spec: ContainerSpec, host_port: int, client_kw: dict[str, Any] | None = None) -> Any:
    """A testcontainers container for `spec`, its port bound to 127.0.0.1:`host_port`.

    `client_kw`: Docker client options (a fixed API `version` builds the container without asking an
    engine for its version: the unit tests build them on machines without one).
    """
    from testcontainers.core.container import DockerContainer

    container = DockerContainer(spec.image, docker_client_kw=client_kw).with_bind_ports(spec.port, host_port)
    # Loopback only, like the native stack: docker-py takes (address, port); with_bind_ports takes a port.
    container.ports[str(spec.port)] = ("127.0.0.1", host_port)
    for name, value in spec.env.items():
        container = container.with_env(name, value)
    if spec.command is not None:
        container = container.with_command(spec.command)
    return container


def docker_available() -> str | None:
    """None if a Docker engine answers, else why not."""
    try:
        import docker

        docker.from_env().ping()
    except Exception as exc:  # any failure means the same thing here: no usable engine
        return f"{type(exc).__name__}: {exc}"
    return None


class ContainerStack:
    """Starts the four containers, waits until each probe passes, stops them all."""

    def __init__(self, ports: Mapping[str, int] | None = None, *,
                 build: Callable[[ContainerSpec, int], Any] = docker_container,
                 check_engine: Callable[[], str | None] = docker_available,
                 probe: Callable[[Mapping[str, int]], dict[str, Callable[[], bool]]] = probes) -> None:
        self.ports = dict(ports or free_ports())
        self._build, self._check_engine, self._probe = build, check_engine, probe
        self.containers: dict[str, Any] = {}

    @property
    def environment(self) -> dict[str, str]:
        return environment(self.ports)

    def start(self, timeout_s: float = 180.0) -> None:
        problem = self._check_engine()
        if problem is not None:
            raise ContainerStackError(f"--stack=containers needs a Docker engine ({problem})")
        try:
            for spec in specs(self.ports):
                container = self._build(spec, self.ports[spec.name])
                self.containers[spec.name] = container
                container.start()
            self._wait(timeout_s)
        except BaseException:
            self.stop()
            raise

    def _wait(self, timeout_s: float) -> None:
        pending = dict(self._probe(self.ports))
        deadline = time.monotonic() + timeout_s
        while pending:
            pending = {name: check for name, check in pending.items() if not check()}
            if pending and time.monotonic() > deadline:
                names = ", ".join(sorted(pending))
                raise ContainerStackError(f"containers not healthy after {timeout_s:.0f}s: {names}")
            if pending:
                time.sleep(1)

    def healthy(self, only: tuple[str, ...] = SERVICES) -> dict[str, bool]:
        return {name: check() for name, check in self._probe(self.ports).items() if name in only}

    def stop(self) -> None:
        for container in reversed(list(self.containers.values())):
            with contextlib.suppress(Exception):  # stopping the others matters more than this one's error
                container.stop()
        self.containers.clear()
