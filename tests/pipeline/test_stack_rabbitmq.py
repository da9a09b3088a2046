"""The stack's RabbitMQ: started natively, owned by its stack home, stopped with exactly what it started."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from pipeline.stack import rabbitmq, services
from pipeline.stack.kafka import StackError
from runtime.settings import Settings
from tests.conftest import _require, free_port

pytestmark = pytest.mark.integration


def _epmd_pids() -> set[int]:
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "epmd":
                    pids.add(int(entry.name))
            except OSError:
                continue
    return pids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2] != "Z"


@pytest.fixture
def scratch(tmp_path: Path, settings: Settings) -> Settings:
    """A second stack home with free ports, so up/down never touch the shared stack."""
    stack = settings.stack.model_copy(update={
        "home": tmp_path / "stack", "rabbitmq_port": free_port(), "rabbitmq_dist_port": free_port(),
        "rabbitmq_epmd_port": free_port(),
    })
    return settings.model_copy(update={"stack": stack})


def test_the_shared_stack_runs_rabbitmq(settings):
    """`sportsflow stack up` started a RabbitMQ that answers AMQP as this stack's cluster."""
    _require("rabbitmq", rabbitmq.healthy(settings.stack, settings.stack.home.resolve()))
    assert rabbitmq.server_cluster(settings.stack.rabbitmq_port) == rabbitmq.cluster_name(settings.stack.home.resolve())


def test_up_is_idempotent_and_down_stops_only_what_up_started(scratch, settings):
    """up starts the node and its own epmd; a second up reuses them; down stops both, not the shared stack's epmd."""
    if not Path(rabbitmq.server_script()).exists():
        pytest.fail("rabbitmq-server is not installed (scripts/setup.sh installs it)")
    _require("rabbitmq", rabbitmq.healthy(settings.stack, settings.stack.home.resolve()))
    # The epmd that must survive is pinned: the shared stack's own. Any epmd alive at the start
    # was not a safe witness: one from another stack home, already exiting, failed a run.
    shared_epmd = rabbitmq.epmd_process(settings.stack.home.resolve()).pid()
    assert shared_epmd is not None
    assert _alive(shared_epmd)
    foreign_epmd = _epmd_pids()
    lines: list[str] = []
    try:
        services.up(scratch, echo=lines.append, only=["rabbitmq"])
        [(name, pid, healthy)] = services.status(scratch, only=["rabbitmq"])
        assert (name, healthy) == ("rabbitmq", True)
        assert pid is not None
        home = scratch.stack.home.resolve()
        epmd = rabbitmq.epmd_process(home).pid()
        assert epmd is not None
        assert epmd not in foreign_epmd
        services.up(scratch, echo=lines.append, only=["rabbitmq"])
        assert lines[-1] == f"rabbitmq: already running (pid {pid})"
        assert (home / "rabbitmq" / "home" / ".erlang.cookie").exists()  # our HOME, not root's
    finally:
        services.down(scratch, echo=lines.append, only=["rabbitmq"])
    assert not _alive(pid)
    assert not _alive(epmd)
    assert _alive(shared_epmd)  # another stack's epmd is never ours to stop
    assert services.status(scratch, only=["rabbitmq"]) == [("rabbitmq", None, False)]


def test_a_foreign_amqp_server_on_the_port_is_refused_with_a_hint(scratch, settings):
    """Another RabbitMQ on the port (here: the shared stack's) is not taken for ours."""
    _require("rabbitmq", rabbitmq.healthy(settings.stack, settings.stack.home.resolve()))
    taken = scratch.model_copy(update={"stack": scratch.stack.model_copy(
        update={"rabbitmq_port": settings.stack.rabbitmq_port})})
    with pytest.raises(StackError) as error:
        services.up(taken, echo=lambda _: None, only=["rabbitmq"])
    message = str(error.value)
    assert f"port {settings.stack.rabbitmq_port} is in use" in message
    assert "SPORTSFLOW_STACK__RABBITMQ_PORT" in message


def test_a_plain_listener_on_the_port_is_refused(scratch):
    """A non-AMQP program holding the port fails the same way, before anything is started."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", scratch.stack.rabbitmq_port))
        sock.listen()
        with pytest.raises(StackError, match="is in use"):
            services.up(scratch, echo=lambda _: None, only=["rabbitmq"])
    assert rabbitmq.epmd_process(scratch.stack.home.resolve()).pid() is None
