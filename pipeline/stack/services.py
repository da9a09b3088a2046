"""The services of the local stack and the `up | down | status` verbs over them."""

from __future__ import annotations

import shutil
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from pipeline.stack import kafka, rabbitmq
from pipeline.stack.kafka import StackError
from pipeline.stack.process import ManagedProcess, port_in_use
from runtime.settings import Settings


@dataclass(frozen=True)
class Service:
    name: str
    port: int
    prepare: Callable[[], list[str]]  # installs what is missing, returns argv; may raise StackError
    healthy: Callable[[], bool]
    cwd: Path | None = None
    env: Callable[[], dict[str, str]] | None = None
    # Stops helpers `prepare` started beside the service (rabbitmq's own epmd); True if one was stopped.
    stop_helpers: Callable[[], bool] | None = None
    # What to tell the user when the port is held by something that is not our healthy service.
    port_hint: str = ""

    def process(self, home: Path) -> ManagedProcess:
        return ManagedProcess(self.name, home / "run" / f"{self.name}.pid", home / "logs" / f"{self.name}.log")


def _venv_bin(name: str) -> str:
    """Tools installed with the project's Python packages live beside its interpreter."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise StackError(f"`{name}` not found; run `make setup` (it installs the project's Python dependencies)")
    return found


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback URL built here
            return bool(response.status < 500)
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (urllib.error.URLError, OSError):
        return False


def _s3_ok(endpoint: str) -> bool:

    client = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="probe", aws_secret_access_key="probe",  # noqa: S106 - local server ignores it
        region_name="us-east-1", config=Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 0}),
    )
    try:
        client.list_buckets()
    except (BotoCoreError, ClientError):
        return False
    return True


def services(settings: Settings) -> list[Service]:
    stack = settings.stack
    home = stack.home.resolve()
    bootstrap = f"127.0.0.1:{stack.kafka_port}"

    def kafka_argv() -> list[str]:
        libs = kafka.ensure_jars(home)
        config = kafka.ensure_formatted(stack.model_copy(update={"home": home}), libs)
        return kafka.java_argv(libs, "kafka.Kafka", str(config))

    def dynamodb_argv() -> list[str]:
        return [_venv_bin("moto_server"), "-H", "127.0.0.1", "-p", str(stack.dynamodb_port)]

    def s3_argv() -> list[str]:
        data = home / "seaweedfs"
        data.mkdir(parents=True, exist_ok=True)
        base = stack.s3_master_port
        return [
            _venv_bin("weed"), "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={base}", f"-volume.port={base + 7}", f"-filer.port={base + 1}",
            f"-s3.port={stack.s3_port}", "-admin.ui=false", "-webdav=false",
        ]

    return [
        Service("kafka", stack.kafka_port, kafka_argv, lambda: kafka.kafka_healthy(bootstrap)),
        Service(
            "dynamodb", stack.dynamodb_port, dynamodb_argv,
            lambda: _http_ok(f"http://127.0.0.1:{stack.dynamodb_port}/moto-api/"),
        ),
        Service("s3", stack.s3_port, s3_argv, lambda: _s3_ok(f"http://127.0.0.1:{stack.s3_port}"), cwd=home),
        Service(
            "rabbitmq", stack.rabbitmq_port, lambda: rabbitmq.prepare(stack, home),
            lambda: rabbitmq.healthy(stack, home), cwd=rabbitmq.base(home),
            env=lambda: rabbitmq.environment(stack, home), stop_helpers=lambda: rabbitmq.stop_epmd(home),
            port_hint=" (another AMQP server, e.g. a system rabbitmq-server service, or another program); "
                      "stop it or set SPORTSFLOW_STACK__RABBITMQ_PORT to a free port",
        ),
    ]


def _selected(settings: Settings, only: Collection[str] | None) -> list[Service]:
    chosen = [s for s in services(settings) if not only or s.name in only]
    unknown = set(only or ()) - {s.name for s in chosen}
    if unknown:
        raise StackError(f"unknown service(s): {', '.join(sorted(unknown))}")
    return chosen


def up(settings: Settings, echo: Callable[[str], None] = print, only: Collection[str] | None = None) -> None:
    """Start every service (or `only` these) that is not already running and wait until each is healthy."""
    home = settings.stack.home.resolve()
    started: list[tuple[Service, ManagedProcess]] = []
    for service in _selected(settings, only):
        proc = service.process(home)
        if proc.pid() is not None:
            echo(f"{service.name}: already running (pid {proc.pid()})")
            continue
        if port_in_use(service.port):
            if service.healthy():
                echo(f"{service.name}: port {service.port} already serves a healthy {service.name}; using it")
                continue
            raise StackError(f"{service.name}: port {service.port} is in use by another process{service.port_hint}")
        argv = service.prepare()
        pid = proc.start(argv, env=service.env() if service.env else None, cwd=service.cwd)
        echo(f"{service.name}: started (pid {pid}), log {proc.log_file}")
        started.append((service, proc))
    for service, proc in started:
        _wait_healthy(service, proc, settings.stack.start_timeout_s)
        echo(f"{service.name}: healthy on 127.0.0.1:{service.port}")


def _wait_healthy(service: Service, proc: ManagedProcess, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if service.healthy():
            return
        if proc.exited_early():
            raise StackError(f"{service.name} exited during start-up; last log lines:\n{proc.tail()}")
        time.sleep(0.5)
    raise StackError(f"{service.name} not healthy after {timeout_s:.0f}s; last log lines:\n{proc.tail()}")


def down(settings: Settings, echo: Callable[[str], None] = print, only: Collection[str] | None = None) -> None:
    """Stop exactly the processes `up` started (by recorded pid); stale pid files are ignored."""
    home = settings.stack.home.resolve()
    for service in reversed(_selected(settings, only)):
        stopped = service.process(home).stop()
        echo(f"{service.name}: {'stopped' if stopped else 'not running'}")
        if service.stop_helpers is not None and service.stop_helpers():
            echo(f"{service.name}: helpers stopped")


def status(settings: Settings, only: Collection[str] | None = None) -> list[tuple[str, int | None, bool]]:
    """(name, pid or None, healthy) for each service."""
    home = settings.stack.home.resolve()
    return [(s.name, s.process(home).pid(), s.healthy()) for s in _selected(settings, only)]
