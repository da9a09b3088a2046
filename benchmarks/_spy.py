"""py-spy around a benchmark's worker process: a flame graph (SVG) and collapsed stacks for shares.

`Spy(pid, out_stem)` starts two non-blocking samplers on the process (the target is never paused,
so its CPU figures are its own): `<stem>.svg` (a flame graph for docs/flamegraphs) and `<stem>.txt`
(collapsed stacks, one `frame;frame;... count` line each). `shares(path, patterns)` reads the latter
and gives each pattern's share of the samples (a stack counts for the first pattern it contains).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

PY_SPY = Path(sys.executable).parent / "py-spy"


class Spy:
    def __init__(self, pid: int, stem: Path, rate: int = 250, idle: bool = False) -> None:
        """`idle`: sample waiting threads too (py-spy --idle), to see how much of the wall time is spent waiting."""
        stem.parent.mkdir(parents=True, exist_ok=True)
        self.svg = stem.with_suffix(".svg")
        self.procs = [
            subprocess.Popen([str(PY_SPY), "record", "--pid", str(pid), "--rate", str(rate), "--nonblocking",
                              "--threads", *(["--idle"] if idle else []), "--format", fmt,
                              "--output", str(stem.with_suffix(suffix))],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for fmt, suffix in (("flamegraph", ".svg"), ("raw", ".txt"))
        ]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.svg.exists():  # the title repeats the command line: no local paths in a committed graph
            text = self.svg.read_text().replace(str(PY_SPY), "py-spy").replace(str(self.svg), self.svg.name)
            self.svg.write_text(text)


def shares(path: Path, patterns: dict[str, str]) -> dict[str, float]:
    """Share of samples per named pattern (substring of the collapsed stack; first match wins), plus 'other'."""
    counts = dict.fromkeys([*patterns, "other"], 0)
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        name = next((name for name, pattern in patterns.items() if pattern in stack), "other")
        counts[name] += n
    return {name: round(n / total, 3) if total else 0.0 for name, n in counts.items()} | {"samples": total}
