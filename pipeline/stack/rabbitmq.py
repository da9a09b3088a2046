"""RabbitMQ from the Debian `rabbitmq-server` package, run as a node the stack owns.

Everything the node writes lives under `<stack home>/rabbitmq` (Mnesia, logs, cookie, config), so it
never touches a system node's `/var/lib/rabbitmq`. Two details keep it apart from a system RabbitMQ:

- Debian's `/usr/sbin/rabbitmq-server` is a wrapper that, run as root, re-executes as the `rabbitmq`
  user inside `/var/lib/rabbitmq`; we run the unwrapped script it points at, which honours `RABBITMQ_*`.
- Erlang nodes register with an epmd. A system epmd (port 4369) may already run, started by the
  package; we start our own on `stack.rabbitmq_epmd_port` as a managed process, so `down` stops exactly
  what `up` started and never a system daemon.

Ready means an AMQP connection succeeds *and* the server names our cluster: a foreign server that
merely holds the port is reported as such instead of being used.
"""

from __future__ import annotations

import asyncio
import glob
import hashlib
import logging
import shutil
from pathlib import Path

import aio_pika
from aiormq.exceptions import AMQPError

from pipeline.stack.kafka import StackError
from pipeline.stack.process import ManagedProcess, port_in_use
from runtime.settings import StackSettings

NODENAME = "sportsflow@localhost"
# Where Debian (and the generic-unix tarball's layout) keeps the script the /usr/sbin wrapper runs.
UNWRAPPED = ("/usr/lib/rabbitmq/bin/rabbitmq-server",)
INSTALL_HINT = "`apt-get install rabbitmq-server` (scripts/setup.sh does it)"


def base(home: Path) -> Path:
    return home / "rabbitmq"


def cluster_name(home: Path) -> str:
    """Our node's cluster name: one per stack home, so a node of another stack home is not taken for ours."""
    return "sportsflow-" + hashlib.blake2b(str(home).encode(), digest_size=4).hexdigest()


def server_script() -> str:
    for candidate in UNWRAPPED:
        if Path(candidate).exists():
            return candidate
    found = shutil.which("rabbitmq-server")
    if found is None:
        raise StackError(f"`rabbitmq-server` was not found; it runs the push-feed broker. Install it: {INSTALL_HINT}")
    return found


def epmd_binary() -> str:
    found = shutil.which("epmd") or next(iter(sorted(glob.glob("/usr/lib/erlang/erts-*/bin/epmd"))), None)
    if found is None:
        raise StackError(f"`epmd` (Erlang) was not found; RabbitMQ needs it. Install it: {INSTALL_HINT}")
    return found


def epmd_process(home: Path) -> ManagedProcess:
    return ManagedProcess("rabbitmq-epmd", home / "run" / "rabbitmq-epmd.pid", home / "logs" / "rabbitmq-epmd.log")


def write_config(stack: StackSettings, home: Path) -> None:
    root = base(home)
    for sub in ("mnesia", "log", "home"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "rabbitmq.conf").write_text("\n".join([
        f"listeners.tcp.default = 127.0.0.1:{stack.rabbitmq_port}",
        f"cluster_name = {cluster_name(home)}",
        # guest/guest stays loopback-only (the default); the stack binds nothing else.
        "loopback_users.guest = true",
        "log.console = true",
        "log.console.level = info",
        "log.file = false",
        # A laptop's disk may be fuller than the 50 MB default assumes; do not block publishers locally.
        "disk_free_limit.absolute = 10MB",
        "",
    ]))
    # No plugins: the management UI is not needed and plugins slow the start down.
    (root / "enabled_plugins").write_text("[].\n")
    # An empty env file replaces /etc/rabbitmq/rabbitmq-env.conf, which belongs to a system node.
    (root / "rabbitmq-env.conf").write_text("")


def environment(stack: StackSettings, home: Path) -> dict[str, str]:
    root = base(home)
    return {
        "RABBITMQ_NODENAME": NODENAME,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(stack.rabbitmq_port),
        "RABBITMQ_DIST_PORT": str(stack.rabbitmq_dist_port),
        "RABBITMQ_MNESIA_BASE": str(root / "mnesia"),
        "RABBITMQ_LOG_BASE": str(root / "log"),
        "RABBITMQ_LOGS": "-",  # the console, i.e. the managed process's log file, where `tail()` looks
        "RABBITMQ_CONFIG_FILE": str(root / "rabbitmq.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(root / "enabled_plugins"),
        "RABBITMQ_CONF_ENV_FILE": str(root / "rabbitmq-env.conf"),
        "RABBITMQ_PID_FILE": str(root / "rabbitmq.pid"),
        "ERL_EPMD_PORT": str(stack.rabbitmq_epmd_port),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        # The Erlang cookie is created in $HOME; ours, not root's or the rabbitmq user's.
        "HOME": str(root / "home"),
    }


def ensure_epmd(stack: StackSettings, home: Path) -> None:
    """Start the stack's epmd unless it already runs; refuse a port held by someone else."""
    proc = epmd_process(home)
    if proc.pid() is not None:
        return
    port = stack.rabbitmq_epmd_port
    if port_in_use(port):
        raise StackError(
            f"rabbitmq: epmd port {port} is in use by a process the stack did not start; "
            "set SPORTSFLOW_STACK__RABBITMQ_EPMD_PORT to a free port"
        )
    proc.start([epmd_binary(), "-port", str(port), "-address", "127.0.0.1"])


def prepare(stack: StackSettings, home: Path) -> list[str]:
    """Write the config, start our epmd and return the server's argv."""
    if port_in_use(stack.rabbitmq_dist_port):
        raise StackError(
            f"rabbitmq: distribution port {stack.rabbitmq_dist_port} is in use by another process; "
            "set SPORTSFLOW_STACK__RABBITMQ_DIST_PORT to a free port"
        )
    script = server_script()
    write_config(stack, home)
    ensure_epmd(stack, home)
    return [script]


def stop_epmd(home: Path) -> bool:
    return epmd_process(home).stop(grace_s=5.0)


async def _server_cluster(port: int) -> str | None:


    # A refused probe is expected while the node starts: keep it out of the log, then restore the levels.
    loggers = [logging.getLogger(name) for name in ("aiormq", "aio_pika")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        connection = await aio_pika.connect(f"amqp://guest:guest@127.0.0.1:{port}/", timeout=3)
    except (TimeoutError, AMQPError, OSError):
        return None
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
    try:
        transport = connection.transport
        properties = transport.connection.server_properties if transport is not None else {}
        name = properties.get("cluster_name")
        return name.decode() if isinstance(name, bytes) else str(name) if name is not None else ""
    finally:
        await connection.close()


def server_cluster(port: int) -> str | None:
    """The cluster name an AMQP server on the port reports, or None when no AMQP handshake succeeds."""
    try:
        return asyncio.run(asyncio.wait_for(_server_cluster(port), timeout=6))
    except TimeoutError:
        return None


def healthy(stack: StackSettings, home: Path) -> bool:
    return server_cluster(stack.rabbitmq_port) == cluster_name(home)
