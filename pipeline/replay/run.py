"""Running a replay end to end: plan, resume, index the output, replay with a progress bar, save the position.

`run_replay` is what `sportsflow replay` and `faust -A pipeline.app replay` call; it reads from
Kafka or S3 (`pipeline/replay/source.py`) and runs `pipeline/replay/engine.py`'s engine. Cancel-safe:
setting `stop` ends the run after the record in hand, with the producer flushed and the position
written (`report.stopped`, `report.resume_file`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka.errors import KafkaError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from pipeline.provision import ensure_topics
from pipeline.replay.engine import (
    Dedupe,
    KafkaOutput,
    Replayer,
    Report,
    Run,
    execute,
    existing_index,
    output_topics,
    resume_state,
    snapshot,
)
from pipeline.replay.engine import restore as restore_state
from pipeline.replay.select import ReplayError, Selection
from pipeline.replay.source import Plan, RawRecord, kafka_records, make_consumer, plan, s3_records
from runtime.aws import boto_client
from runtime.settings import Settings

DEFAULT_POSITION = Path("replay.position.json")


@dataclass(frozen=True)
class Request:
    selection: Selection
    source: str = "auto"  # kafka, s3 or auto
    speed: float = 0.0
    output: str | None = None  # None: the canonical topics
    dry_run: bool = False
    resume: Path | None = None
    published_from: datetime | None = None  # where the idempotence index starts (default: `index_start`)
    progress: bool = True


def index_start(start: datetime | None, state_ttl_s: float) -> datetime | None:
    """Where the idempotence index starts reading by default: the state TTL before the range.

    An entity's first replayed version usually repeats the state it was in when the range
    starts, which the live stream published *before* the range (at most one state TTL before:
    an entity silent for longer expired and started a new lineage). An index starting at the
    range would not hold it, and the replay would publish that content again.
    """
    return start - timedelta(seconds=state_ttl_s) if start is not None else None


class Sources:
    """The Kafka consumer and S3 client a replay reads with; an async context manager."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.consumer: Any = None
        self.s3: Any = None

    async def __aenter__(self) -> Sources:


        self.consumer = make_consumer(self.settings)
        try:
            async with asyncio.timeout(30):
                await self.consumer.start()
        except (KafkaError, TimeoutError, OSError) as exc:
            raise ReplayError(f"cannot reach Kafka at {self.settings.kafka.bootstrap_servers}: {exc!r}") from exc
        self.s3 = await asyncio.to_thread(boto_client, self.settings, "s3")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def plan(self, selection: Selection, source: str) -> Plan:
        return await plan(self.settings, self.consumer, self.s3, selection, source)

    def records(self, found: Plan, selection: Selection, position: Any) -> AsyncIterator[RawRecord]:
        if found.source == "kafka":
            return kafka_records(self.consumer, found, position)
        return s3_records(self.s3, self.settings.aws.s3_bucket, selection, position)


class RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0:,.0f} rec/s", style="progress.data.speed")


@contextlib.contextmanager
def progress_bar(console: Console, total: int, enabled: bool) -> Any:
    """Yields `advance(n)`: a rich bar with count, rate and ETA (or a no-op when disabled)."""
    if not enabled:
        yield lambda _n: None
        return
    with Progress(TextColumn("replay"), BarColumn(), MofNCompleteColumn(), RateColumn(), TimeElapsedColumn(),
                  TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=False) as bar:
        task = bar.add_task("replay", total=total)
        yield lambda n: bar.advance(task, n)


async def run_replay(settings: Settings, request: Request, stop: asyncio.Event, console: Console,
                     on_plan: Callable[[Plan], None] = lambda _p: None) -> Report:
    """Replay the selection into the output topic(s). Raises `SelectionError` before publishing anything."""
    report = Report()
    async with Sources(settings) as sources:
        found = await sources.plan(request.selection, request.source)
        report.source, report.selected = found.source, found.total
        on_plan(found)
        if request.dry_run:
            return report
        position = resume_state(request.resume, request.selection, found, request.output)
        if position.complete:
            return report
        names = output_topics(request.output)
        if request.output:

            await ensure_topics(settings, [request.output])
        since = request.published_from or index_start(request.selection.start, settings.processing.dedupe_ttl_s)
        since_ms = int(since.timestamp() * 1000) if since else 0
        dedupe: Dedupe = await existing_index(settings, names, since_ms)
        replayer = Replayer(settings.processing)
        restore_state(replayer, dedupe, position)
        resume_file = request.resume or DEFAULT_POSITION
        async with KafkaOutput(settings) as output:
            with progress_bar(console, found.remaining(position), request.progress) as advance:
                run = Run(output, request.output, dedupe, f"{settings.processing.app_id}.replay", request.speed,
                          advance, request.selection.wants)
                try:
                    await execute(replayer, sources.records(found, request.selection, position), run, report,
                                  position=position, stop=stop)
                except asyncio.CancelledError:
                    report.stopped = True
                    _save(replayer, dedupe, position, resume_file, report)
                    raise
        if report.stopped:
            _save(replayer, dedupe, position, resume_file, report)
        elif request.resume is not None:
            position.complete = True
            snapshot(replayer, dedupe, position)
            position.save(request.resume)
    return report


def _save(replayer: Replayer, dedupe: Dedupe, position: Any, path: Path, report: Report) -> None:
    snapshot(replayer, dedupe, position)
    position.save(path)
    report.resume_file = path
