"""The worker with both pure stages stubbed (`benchmarks/shell_floor.py`): `faust -A benchmarks.shell_floor_app worker`.

Used by `python -m benchmarks.throughput --stages floor`; never by the product. Importing it replaces the
stage functions the worker's loops call, so import it only in a worker process of its own.
"""

from __future__ import annotations

from agents import intake, worker
from benchmarks.shell_floor import stage_one, stage_two
from pipeline.app import app

__all__ = ["app"]

intake.process_raw = stage_one  # type: ignore[attr-defined,assignment]
worker.process_candidates = stage_two  # type: ignore[attr-defined]
