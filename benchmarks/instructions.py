"""Instructions per raw update of the two pure stages, counted by valgrind: a figure the box's noise cannot move.

    python -m benchmarks.instructions                     # The Odds API score updates (the throughput benchmark's)
    python -m benchmarks.instructions --corpus c.jsonl    # a `benchmarks.stage_cost --write-corpus` corpus
    python -m benchmarks.instructions --stage 2 --passes 3

Timed A/B runs of a small change on these shared 2-core machines drift by 15-50 % within minutes
(BENCHMARKS.md), so a 5 % change in our own code cannot be seen in them. Instructions retired can:
valgrind's callgrind counts them exactly, the same count for the same code and input, whatever else
the machine does. The figure is for A/B comparisons of the pure stages (`agents/stages/`), not a speed:
it says nothing of cache misses, the Kafka clients or the event loop, which the timed benchmarks cover.

Each stage is counted in two runs of this module under callgrind: one that builds the input and makes a
warm pass, and one that does the same and then `--passes` more. The difference, divided by the updates
in those passes, is the stage's instructions per raw update: imports, setup and first-call costs cancel
out. Every pass starts from empty state, as `benchmarks.stage_cost` does (`_stage_harness.WorkerStages`:
the state written back as the worker writes it), and the worker's GC settings apply. Needs valgrind
(`apt-get install valgrind`); a run takes about a minute.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agents.stages.normalize import RESOLVE, OutRecord
from benchmarks import _stage_corpus as corpus
from benchmarks._load import score_update
from benchmarks._stage_harness import WorkerStages
from connectors.publisher import record_headers
from schemas import topics

UPDATES = 1000
FIXTURES = 50
START = datetime(2026, 1, 1, 18, 0, tzinfo=UTC)  # fixed, so every run feeds the same bytes
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def score_corpus(updates: int = UPDATES, fixtures: int = FIXTURES) -> list[corpus.RawRecord]:
    """The throughput benchmark's updates: one game each, every one a new score (so every one is published)."""
    records = []
    for i in range(updates):
        at = START + timedelta(seconds=i)
        envelope = score_update("instr", i % fixtures, 1 + i // fixtures, now=at).model_copy(update={"id": f"{i:032x}"})
        records.append(corpus.RawRecord(topics.raw_topic("theoddsapi"), 0, i, envelope.to_json(),
                                        record_headers(envelope)))
    return records


def _inner(stage: str, passes: int, corpus_path: Path | None) -> None:
    """What runs under valgrind: build the input, one warm pass, then `passes` passes of one stage."""
    records = corpus.read(corpus_path) if corpus_path else score_corpus()
    first = WorkerStages()
    messages: list[OutRecord] = [out for r in records for out in first.stage_one(r).records if out.topic == RESOLVE]
    gc.collect()
    gc.freeze()  # the worker's GC settings (agents/intake.py)
    gc.set_threshold(50_000, 50, 100)

    def one_pass() -> None:
        stages = WorkerStages()
        if stage == "1":
            for r in records:
                stages.stage_one(r)
        else:
            for message in messages:
                stages.stage_two(message)

    for _ in range(1 + passes):
        one_pass()
    print(json.dumps({"records": len(records), "messages": len(messages)}))


def _count(stage: str, passes: int, corpus_path: Path | None, valgrind: str) -> tuple[int, int]:
    """(instructions, raw records) of one run under callgrind."""
    argv = [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-m",
            "benchmarks.instructions", "--inner", "--stage", stage, "--passes", str(passes)]
    if corpus_path:
        argv += ["--corpus", str(corpus_path)]
    env = {**os.environ, "PYTHONHASHSEED": "0"}  # str hashes fixed: the same dict and set layouts in every run
    done = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"the counted run failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return int(found.group(1)), int(json.loads(done.stdout.splitlines()[-1])["records"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", choices=("1", "2", "both"), default="both")
    parser.add_argument("--passes", type=int, default=2, help="counted passes over the corpus (after a warm one)")
    parser.add_argument("--corpus", type=Path, help="a stage_cost corpus (JSON lines) instead of score updates")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        _inner(args.stage, args.passes, args.corpus)
        return
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind was not found on PATH: apt-get install valgrind")
    result: dict[str, object] = {"corpus": str(args.corpus) if args.corpus else "theoddsapi scores",
                                 "passes": args.passes}
    for stage in ("1", "2") if args.stage == "both" else (args.stage,):
        base, records = _count(stage, 0, args.corpus, valgrind)
        total, _ = _count(stage, args.passes, args.corpus, valgrind)
        result[f"stage{stage}_instructions_per_update"] = round((total - base) / (records * args.passes))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
