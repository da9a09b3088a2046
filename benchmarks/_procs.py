"""Processes the benchmarks start and stop: a Faust worker, and the stack's Kafka broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline.stack import services
from runtime.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


class Worker:
    """A `faust -A pipeline.app worker` subprocess with its own app id (consumer group, tables)."""

    _instances = 0

    def __init__(self, app_id: str, log_dir: Path, extra_env: dict[str, str] | None = None,
                 name: str | None = None, loop: str = "aio", app: str = "pipeline.app") -> None:
        """`name`: of the log file (default: the app id); several workers of one app need their own.
        `loop`: Faust's event loop option (`aio`, or `uvloop` where it is installed).
        `app`: the Faust app's module (`benchmarks.shell_floor_app`: the worker with its stages stubbed)."""
        self.loop = loop
        self.app = app
        self.app_id = app_id
        self.log_path = log_dir / f"{name or app_id}.log"
        Worker._instances += 1
        # Its own local files (RocksDB tables), kept across its restarts: two workers of one app on one
        # machine cannot share them (RocksDB locks each partition's files).
        data_dir = log_dir.parent / "faust" / f"{name or app_id}-w{Worker._instances}-data"
        self.env = {**os.environ, "SPORTSFLOW_PROCESSING__APP_ID": app_id, "PYTHONUNBUFFERED": "1",
                    "SPORTSFLOW_METRICS__PROMETHEUS_ENABLED": "false",
                    "SPORTSFLOW_PROCESSING__DATA_DIR": str(data_dir), **(extra_env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._offset = 0

    def start(self, wait_ready: bool = True, timeout_s: float = 120.0) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "faust", "-L", self.loop, "-A", self.app, "worker", "-l", "info",
             "--without-web"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        self.starts += 1
        if wait_ready:
            self.wait_ready(timeout_s)

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Wait for the latest start to report Ready (Faust logs it once partitions are assigned)."""
        assert self.proc is not None
        offset = self._offset
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.log_path.open("rb") as f:
                f.seek(offset)
                if b"Worker]: Ready" in f.read():
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}; see {self.log_path}")
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready after {timeout_s}s; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final commit — the crash the guarantees must survive."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def cpu_seconds(self) -> float:
        """User + system CPU the worker process has used so far."""
        if self.proc is None:
            return 0.0
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_text(self) -> str:
        """What the latest start has logged so far."""
        with self.log_path.open("rb") as f:
            f.seek(self._offset)
            return f.read().decode("utf-8", "replace")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def restart_broker(settings: Settings) -> float:
    """Stop the stack's Kafka broker (SIGTERM, as an operator restart) and start it again; returns seconds down."""
    kafka = next(s for s in services.services(settings) if s.name == "kafka")
    proc = kafka.process(settings.stack.home.resolve())
    started = time.monotonic()
    proc.stop()
    proc.start(kafka.prepare())
    deadline = time.monotonic() + 120
    while not kafka.healthy():
        if time.monotonic() > deadline:
            raise RuntimeError("kafka did not come back")
        time.sleep(0.5)
    return time.monotonic() - started


def busy_processes(n: int) -> list[subprocess.Popen[bytes]]:
    """A loaded box: `n` busy processes beside the worker, the broker and the providers for the whole run."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
