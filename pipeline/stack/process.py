"""Start and stop background processes that outlive the CLI call that started them.

A pid file records the pid *and* the process start time from /proc, so a stale pid file whose
pid was reused by an unrelated process is recognised and never killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


def _start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; fields after it are space separated.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])  # field 22 overall: starttime in clock ticks since boot


@dataclass(frozen=True)
class ManagedProcess:
    name: str
    pid_file: Path
    log_file: Path

    def pid(self) -> int | None:
        """The recorded pid if that very process is still alive, else None (stale files are removed)."""
        try:
            record = json.loads(self.pid_file.read_text())
            pid, ticks = int(record["pid"]), int(record["start_ticks"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if _start_ticks(pid) != ticks or _is_zombie(pid):
            self.pid_file.unlink(missing_ok=True)
            return None
        return pid

    def start(self, argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path | None = None) -> int:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(  # noqa: S603 - argv is built by this package, never from user input
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env={**os.environ, **(env or {})},
                start_new_session=True,  # its own process group: `down` stops it and its children
            )
        ticks = _start_ticks(proc.pid)
        self.pid_file.write_text(json.dumps({"pid": proc.pid, "start_ticks": ticks, "argv": list(argv)}))
        return proc.pid

    def exited_early(self) -> bool:
        return self.pid() is None

    def stop(self, grace_s: float = 20.0) -> bool:
        """SIGTERM the process group, SIGKILL after `grace_s`. True if something was stopped."""
        pid = self.pid()
        if pid is None:
            return False
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            if _start_ticks(pid) is None or _is_zombie(pid):
                break
            time.sleep(0.1)
        else:
            _signal_group(pid, signal.SIGKILL)
        _reap(pid)
        self.pid_file.unlink(missing_ok=True)
        return True

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        os.kill(pid, sig)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] == "Z"


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def port_in_use(port: int) -> bool:
    """Something accepts connections on 127.0.0.1:`port`."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0
