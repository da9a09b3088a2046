"""CPU cost of our own code per raw update: the two pure stages and the metric hooks, in-process, no Kafka.

    python -m benchmarks.stage_cost --matches 30 --ticks 30 --runs 5
    python -m benchmarks.stage_cost --profile stage2          # cProfile of one pass, top functions
    python -m benchmarks.stage_cost --write-corpus c.jsonl    # then --corpus c.jsonl: one corpus for A/B runs
    python -m benchmarks.stage_cost --feeds scores,football-fixtures,basketball-games,events,soccer-schedule
                                                              # the common case: one event per update

The corpus is the provider simulator polled by the real connectors (`benchmarks/_stage_corpus.py`: every
provider, known fixtures re-polled with changed and unchanged scores, odds, a few new fixtures, repeats and
late copies). Each run feeds it through the stages exactly as the worker's agents call them
(`benchmarks/_stage_harness.py`): `process_raw` per raw record, `process_candidates` per resolve message
with the fixtures/entities state read and written back as orjson bytes, `observe_processed` per raw record
and `observe_canonical` per canonical output. Stage 2 starts each run from empty state, as a new worker does.

Figures are CPU time of this process (`time.process_time`, so other load on the box counts little) per raw
update, the median of `--runs` runs after one warm-up. Baseline, in the same run: a trivial loop that makes
the same calls' argument lists and calls a no-op, i.e. what the loop itself costs.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agents.stages.normalize import RESOLVE, OutRecord
from benchmarks import _stage_corpus as corpus
from benchmarks._stage_harness import WorkerStages
from runtime.observability.hooks import observe_canonical, observe_processed
from schemas import headers as h
from schemas import topics

STAGES = ("baseline", "stage1", "stage2", "hooks")
WORKER_GC_THRESHOLD = (50_000, 50, 100)  # agents/intake.py


def _noop(*_args: Any) -> None:
    return None


def _feed(record: corpus.RawRecord) -> set[str]:
    """{provider/feed, feed} of a raw record, from its headers."""
    names = dict(record.headers)
    provider, feed = names.get(h.PROVIDER, b"?").decode(), names.get(h.FEED, b"?").decode()
    return {f"{provider}/{feed}", feed}


def _cpu(fn: Callable[[], None]) -> float:
    gc.collect()
    started = time.process_time()
    fn()
    return time.process_time() - started


def one_run(records: list[corpus.RawRecord], *, cached_states: bool = False
            ) -> tuple[dict[str, float], dict[str, int]]:
    """CPU seconds per stage for the whole corpus, and counts (raw records, resolve messages, outputs)."""
    stages = WorkerStages(cached_states=cached_states)
    messages: list[OutRecord] = []
    published: list[list[tuple[str, bytes]]] = []
    candidates = [0]

    def baseline() -> None:
        for r in records:
            _noop(r.topic, r.partition, r.offset, r.value, list(r.headers))

    def stage1() -> None:
        for r in records:
            processed = stages.stage_one(r)
            messages.extend(out for out in processed.records if out.topic == RESOLVE)

    def stage2() -> None:
        for message in messages:
            result = stages.stage_two(message)
            candidates[0] += result.reasons.total()
            for out in result.outputs:
                if out.topic in topics.CANONICAL_TOPICS:
                    published.append([*out.headers, (h.APP, b"bench"), (h.PUBLISHED_TS, h.ms(h.now_ms()))])

    def hooks() -> None:
        for r in records:
            observe_processed(r.topic.removeprefix(topics.RAW_PREFIX), dead_letter=False)
        for headers in published:
            observe_canonical(headers)

    spent = {"baseline": _cpu(baseline), "stage1": _cpu(stage1), "stage2": _cpu(stage2), "hooks": _cpu(hooks)}
    return spent, {"raw": len(records), "resolve": len(messages), "candidates": candidates[0],
                   "canonical": len(published)}


def profile(records: list[corpus.RawRecord], stage: str, top: int) -> None:
    stages = WorkerStages()
    processed = [stages.stage_one(r) for r in records]
    messages = [out for p in processed for out in p.records if out.topic == RESOLVE]
    profiler = cProfile.Profile()
    if stage == "stage1":
        stages = WorkerStages()
        profiler.runcall(lambda: [stages.stage_one(r) for r in records])
    else:
        stages = WorkerStages()
        profiler.runcall(lambda: [stages.stage_two(m) for m in messages])
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--matches", type=int, default=30)
    parser.add_argument("--ticks", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--corpus", type=Path, help="a corpus file (JSON lines) instead of polling the simulator")
    parser.add_argument("--write-corpus", type=Path, help="write the corpus (JSON lines) for --corpus and stop")
    parser.add_argument("--profile", choices=("stage1", "stage2"), help="print a cProfile of one pass instead")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--feeds", help="only raw records of these feeds (comma-separated provider/feed or feed "
                        "names, e.g. scores,football-fixtures: the common case of one event per update)")
    parser.add_argument("--cached-states", action="store_true",
                        help="stage 2 reuses decoded entity states (agents.stages.process.EntityStates)")
    parser.add_argument("--gc", choices=("default", "worker"), default="default",
                        help="worker: the worker's GC tuning (SPORTSFLOW_PROCESSING__GC_TUNING, on by default): "
                        "what is alive after the warm-up frozen out of the collector's view, young generation "
                        "collected every 50,000 allocations; default: Python's thresholds")
    args = parser.parse_args()

    if args.corpus:
        records = corpus.read(args.corpus)
    else:
        start = datetime.now(UTC).replace(microsecond=0)
        records = corpus.build(matches=args.matches, ticks=args.ticks, seed=7, start=start, replay_every=13)
    if args.write_corpus:
        corpus.write(args.write_corpus, records)
        print(f"{len(records)} raw records written to {args.write_corpus}")
        return
    if args.feeds:
        wanted = set(args.feeds.split(","))
        records = [r for r in records if _feed(r) & wanted]
    print(f"corpus: {len(records)} raw records {corpus.summary(records)}")
    if args.profile:
        profile(records, args.profile, args.top)
        return

    one_run(records, cached_states=args.cached_states)  # warm-up: imports, caches, first allocations
    if args.gc == "worker":  # as agents/intake.py does once the tables are restored
        gc.collect()
        gc.freeze()
        gc.set_threshold(*WORKER_GC_THRESHOLD)
    runs = []
    for i in range(args.runs):
        spent, counts = one_run(records, cached_states=args.cached_states)
        per = {stage: spent[stage] / counts["raw"] * 1e6 for stage in STAGES}
        runs.append(per)
        print(f"run {i + 1}: " + "  ".join(f"{s} {per[s]:7.1f}" for s in STAGES)
              + f"  µs/update (CPU); {counts['resolve']} resolve messages, {counts['candidates']} candidate records,"
              f" {counts['canonical']} canonical outputs")
    median = {s: statistics.median(r[s] for r in runs) for s in STAGES}
    ours = median["stage1"] + median["stage2"] + median["hooks"]
    print("median µs per raw update (CPU): " + "  ".join(f"{s} {median[s]:.1f}" for s in STAGES)
          + f"  ours (stage1+stage2+hooks) {ours:.1f}  = {ours / median['baseline']:.0f} x the baseline loop")


if __name__ == "__main__":
    main()
