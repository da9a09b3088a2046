"""The worker's pure stages: bytes in, records out, no I/O (tested without Kafka).

The modules in `NATIVE` are also compiled to C extensions by mypyc (`scripts/native.py`, run by
`make setup`): stage 2's per-candidate work in a third less CPU, same code, same results. The
compiled modules are used only while they were built from the sources as they are now: `stamp.json`
beside them holds each source's hash, and one edited source (or another Python) sends every module
back to its plain-Python source, so an edit is never shadowed by a stale build. `SPORTSFLOW_NATIVE=0`
turns them off (A/B benchmarks, and the test that the plain sources give the same outputs).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
from pathlib import Path

# Compiled by mypyc: the per-candidate hot path of stage 2 (the modules `process_candidates` calls).
NATIVE = ("canonicalize", "discrepancy", "gameclock", "ordering", "precedence", "process")
SOURCES = Path(__file__).resolve().parent
NATIVE_DIR = Path(os.environ.get("SPORTSFLOW_NATIVE_DIR") or Path(__file__).resolve().parents[2] / "build" / "native")
STAMP = "stamp.json"


def source_hashes(sources: Path = SOURCES) -> dict[str, str]:
    return {name: hashlib.sha256((sources / f"{name}.py").read_bytes()).hexdigest() for name in NATIVE}


def python_tag() -> str:
    return f"{sys.implementation.cache_tag}-{sys.platform}"


def native_dir(built: Path = NATIVE_DIR, sources: Path = SOURCES) -> Path | None:
    """Where the compiled stages are, if they are enabled and were built from today's sources for this Python."""
    if os.environ.get("SPORTSFLOW_NATIVE", "1") == "0":
        return None
    try:
        stamp = json.loads((built / STAMP).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(stamp, dict) or stamp.get("python") != python_tag() \
            or stamp.get("sources") != source_hashes(sources):
        return None
    return built


def compiled() -> list[str]:
    """The `NATIVE` modules this process runs compiled (imports them)."""
    modules = [importlib.import_module(f"{__name__}.{name}") for name in NATIVE]
    return [name for name, module in zip(NATIVE, modules, strict=True)
            if not (module.__file__ or "").endswith(".py")]


def _use_native() -> None:
    built = native_dir()
    if built is None:
        return
    sys.path.append(str(built))  # mypyc's shared library for the group is a top-level module
    __path__.insert(0, str(built / "agents" / "stages"))  # found before the sources: the compiled modules


_use_native()
