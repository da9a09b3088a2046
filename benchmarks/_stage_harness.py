"""Both stages run in-process exactly as the worker's agents call them (`agents/worker.py`), without Kafka.

Stage 1 (`process_raw`) per raw record; its resolve messages go to stage 2 (`process_candidates`) with the
state the worker keeps: the fixtures table (orjson bytes per route, parsed through a `FixtureCache`) and the
entities table (orjson bytes per entity key), written back the way the worker writes them. What the
worker's shell adds around the stages (Kafka, expiry sweeps, changelog sends) is left out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from agents.guard import policy
from agents.stages.normalize import RESOLVE, OutRecord, Processed, process_raw
from agents.stages.process import EntityStates, StageTwoResult, process_candidates
from agents.stages.resolve import FixtureCache
from benchmarks._stage_corpus import RawRecord
from runtime.settings import ProcessingSettings


@dataclass
class WorkerStages:
    settings: ProcessingSettings = field(default_factory=ProcessingSettings)
    is_down: Callable[[str], bool] = lambda _source: False
    fixtures_table: dict[bytes, bytes] = field(default_factory=dict)
    entities_table: dict[bytes, bytes] = field(default_factory=dict)
    parsed_fixtures: FixtureCache = field(default_factory=FixtureCache)
    # Decoded entity states reused (`agents.stages.process.EntityStates`) instead of one orjson.loads per
    # candidate, as the worker's stage 2 does (since 099425c); False measures the decode per candidate.
    cached_states: bool = True
    states: EntityStates = field(default_factory=EntityStates)

    def __post_init__(self) -> None:
        self.policy = policy(self.settings)
        self.tolerance_ms = int(self.settings.match_tolerance_s * 1000)
        self.grace_ms = int(self.settings.discrepancy_grace_s * 1000)
        self.ttl_ms = int(self.settings.dedupe_ttl_s * 1000)

    def stage_one(self, record: RawRecord) -> Processed:
        return process_raw(record.topic, record.partition, record.offset, record.value, list(record.headers))

    def _entity_state(self, key: str) -> Any:
        stored = self.entities_table.get(key.encode())
        if self.cached_states:
            return self.states.get(key, stored)
        return orjson.loads(stored) if stored else None

    def stage_two(self, message: OutRecord, partition: int = 0) -> StageTwoResult:
        """One resolve message, as `resolve_and_order` handles it (state read and written back)."""
        fixtures = self.parsed_fixtures.get(message.key, self.fixtures_table.get(message.key))
        result = process_candidates(
            message.key.decode(), message.value, list(message.headers), fixtures, self._entity_state,
            policy=self.policy, tolerance_ms=self.tolerance_ms, is_down=self.is_down, ttl_ms=self.ttl_ms,
            discrepancy_grace_ms=self.grace_ms,
        )
        if result.fixtures_changed:
            stored = orjson.dumps([f.as_dict() for f in fixtures])
            self.fixtures_table[message.key] = stored
            self.parsed_fixtures.put(message.key, stored, fixtures)
        for key, entity in result.entities.items():
            entity["p"] = partition
            self.entities_table[key.encode()] = stored = orjson.dumps(entity)
            if self.cached_states:
                self.states.put(key, stored, entity)
        return result

    def run(self, record: RawRecord) -> tuple[Processed, list[StageTwoResult]]:
        """Both stages for one raw record: its stage-1 result and the stage-2 result of each resolve message."""
        processed = self.stage_one(record)
        return processed, [self.stage_two(out) for out in processed.records if out.topic == RESOLVE]
