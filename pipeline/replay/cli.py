"""The replay commands: `sportsflow replay [diff]` and `faust -A pipeline.app replay [--diff]`.

Thin shells over `pipeline/replay/run.run_replay` and `pipeline/replay/diff.run_diff`. Exit
status: 0 done (or the diff is clean), 1 the diff found differences or Kafka/S3 failed, 2 a bad
selection (nothing was published), 130 stopped by Ctrl-C (the position to `--resume` from is printed).
Importing this module builds nothing: the heavy imports happen when a command runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

EXIT_OK, EXIT_DIFFERENT, EXIT_SELECTION, EXIT_STOPPED = 0, 1, 2, 130

# (flags, keyword arguments) shared by both command lines; click.option and faust.cli.option take them alike.
OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("--provider", "-p", "providers"), {"multiple": True, "help": "Replay raw.<provider> (repeatable)."}),
    (("--topic", "-t", "topic_names"), {"multiple": True, "help": "Replay this raw topic (repeatable)."}),
    (("--from", "start"), {"default": None, "help": "Range start, RFC 3339 (e.g. 2026-11-28T00:00:00Z)."}),
    (("--to", "end"), {"default": None, "help": "Range end (exclusive); default now."}),
    (("--offsets", "offsets"), {"multiple": True,
                                "help": "Explicit offsets TOPIC:PARTITION:FIRST-END (END exclusive; repeatable)."}),
    (("--key", "keys"), {"multiple": True,
                         "help": "Only raw records whose key (provider entity id) matches this glob (repeatable)."}),
    (("--source",), {"type": click.Choice(["auto", "kafka", "s3"]), "default": "auto", "show_default": True,
                     "help": "Read Kafka, the S3 archive, or auto (Kafka within retention, else S3)."}),
    (("--speed",), {"type": float, "default": 0.0, "show_default": True,
                    "help": "0: as fast as possible; N: N x real time by record timestamps."}),
    (("--output", "-o"), {"default": None, "help": "Publish every record to this topic (default: canonical.*)."}),
    (("--dry-run",), {"is_flag": True, "help": "Print what would be read (counts only) and exit."}),
    (("--resume", "resume"), {"type": click.Path(dir_okay=False, path_type=Path), "default": None,
                              "help": "Position file: continue from it if it exists; written on Ctrl-C."}),
    (("--published-from",), {"default": None,
                             "help": "Read existing output from this time (default: --from minus the state TTL)."}),
    (("--no-progress",), {"is_flag": True, "help": "No progress bar."}),
    (("--app", "app_id"), {"default": None, "help": "Diff: the worker app id whose output to compare."}),
]


def apply_options(option: Callable[..., Any], *, diff_flag: bool) -> Callable[[Any], Any]:
    def decorate(fn: Any) -> Any:
        extra = [(("--diff",), {"is_flag": True, "help": "Replay in memory and diff with what was published."})]
        for flags, kwargs in reversed([*OPTIONS, *(extra if diff_flag else [])]):
            fn = option(*flags, **kwargs)(fn)
        return fn
    return decorate


def _echo(line: str, *, err: bool = False) -> None:
    click.echo(line, err=err)


def replay_main(*, diff: bool = False, **options: Any) -> int:
    """Run a replay (or a diff) from command-line options; return the exit status."""
    from pipeline.replay.select import ReplayError, SelectionError, build_selection, check_source, parse_time
    from runtime.settings import get_settings
    from schemas.providers import providers

    settings = get_settings()
    try:
        if float(options.get("speed") or 0.0) < 0:
            raise SelectionError("--speed must be 0 (as fast as possible) or positive")
        selection = build_selection(
            providers=options.get("providers") or (), topic_names=options.get("topic_names") or (),
            start=options.get("start"), end=options.get("end"), offsets=options.get("offsets") or (),
            keys=options.get("keys") or (), known_providers=providers())
        check_source(selection, options.get("source") or "auto")
        published_from = options.get("published_from")
        from pipeline.replay.run import Request

        request = Request(
            selection, options.get("source") or "auto", float(options.get("speed") or 0.0), options.get("output"),
            bool(options.get("dry_run")), options.get("resume"),
            parse_time(published_from, "--published-from") if published_from else None,
            not options.get("no_progress"))
        if diff:
            return asyncio.run(_diff(settings, request, options.get("app_id") or settings.processing.app_id))
        return asyncio.run(_replay(settings, request))
    except ReplayError as exc:
        _echo(f"error: {exc}", err=True)
        return exc.exit_code


@contextlib.contextmanager
def _interruptible(stop: asyncio.Event) -> Any:
    """First Ctrl-C (or SIGTERM) sets `stop`: the replay ends after the record in hand and saves its position."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (ValueError, RuntimeError, NotImplementedError):
            break  # not the main thread (tests run commands in threads): nothing to install
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def _describe_plan(found: Any, dry_run: bool) -> None:
    for note in found.notes:
        _echo(f"source: {found.source} ({note})", err=True)
    lines = [f"{'would replay' if dry_run else 'replaying'} {found.total} records from {found.source}"]
    for (topic, partition), (first, end) in sorted(found.ranges.items()):
        lines.append(f"  {topic}:{partition} offsets {first}-{end} ({end - first} records)")
    for line in lines:
        _echo(line, err=not dry_run)


async def _replay(settings: Any, request: Any) -> int:
    from rich.console import Console

    from pipeline.replay.run import run_replay

    stop = asyncio.Event()
    with _interruptible(stop):
        report = await run_replay(settings, request, stop, Console(stderr=True),
                                  on_plan=lambda p: _describe_plan(p, request.dry_run))
    if request.dry_run:
        return EXIT_OK
    published = ", ".join(f"{t} {n}" for t, n in sorted(report.published.items())) or "nothing"
    _echo(f"replayed {report.read} raw records from {report.source}: {sum(report.produced.values())} canonical "
          f"records, published {sum(report.published.values())} ({published}), "
          f"{report.already_present} already present, {report.dead_letters} dead letters")
    for reason, count in report.dead_reasons.most_common(5):
        _echo(f"  dead letter x{count}: {reason}")
    if report.stopped:
        _echo(f"stopped; position saved to {report.resume_file}; continue with: --resume {report.resume_file}")
        return EXIT_STOPPED
    return EXIT_OK


async def _diff(settings: Any, request: Any, app_id: str) -> int:
    from pipeline.replay.diff import render, run_diff

    stop = asyncio.Event()
    with _interruptible(stop):
        report = await run_diff(settings, request, app_id, stop, on_plan=lambda p: _describe_plan(p, False))
    if report.replay.stopped:
        _echo("stopped before the replay finished: no diff")
        return EXIT_STOPPED
    for line in render(report):
        _echo(line)
    return EXIT_OK if report.equal else EXIT_DIFFERENT


# ---------------------------------------------------------------------------------------------
# The Faust app command


def register_faust_command(app: Any) -> Any:
    """`faust -A pipeline.app replay …`: the same options, plus `--diff`. Runs without a Faust worker."""
    from faust.cli import AppCommand, option

    class _Direct(AppCommand):
        """Runs in the calling thread (no Faust worker), so the exit status is the command's own."""

        abstract = True

        def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
            raise SystemExit(replay_main(**{**self.kwargs, **kwargs}))

    async def replay(self: Any, **_: Any) -> None:
        """Re-run raw records through the current normalizers (see `sportsflow replay --help`)."""

    return app.command(*_faust_options(option), base=_Direct)(replay)


def _faust_options(option: Callable[..., Any]) -> list[Any]:
    extra = [(("--diff",), {"is_flag": True, "help": "Replay in memory and diff with what was published."})]
    return [option(*flags, **kwargs) for flags, kwargs in [*OPTIONS, *extra]]
