"""`sportsflow`: the command line. Each subcommand is a thin shell over a library function."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click

from runtime.settings import get_settings
from schemas.errors import ConfigurationError


@click.group()
def main() -> None:
    """Sportsflow: provider sports feeds in, one clean canonical stream out."""


@main.group()
def stack() -> None:
    """The local stack: Kafka, a DynamoDB-API server and an S3 server, started natively."""


@stack.command("up")
@click.option("--no-provision", is_flag=True, help="Do not create topics, table and bucket.")
def stack_up(no_provision: bool) -> None:
    """Start the services (idempotent) and wait until each is healthy."""
    from pipeline import provision as resources
    from pipeline.stack import services
    from pipeline.stack.kafka import StackError

    settings = get_settings()
    try:
        services.up(settings, echo=click.echo)
    except StackError as exc:
        raise click.ClickException(str(exc)) from exc
    if not no_provision:
        asyncio.run(resources.provision(settings))
        click.echo("provisioned: topics, DynamoDB table, S3 bucket")


@stack.command("down")
def stack_down() -> None:
    """Stop the services `up` started."""
    from pipeline.stack import services

    services.down(get_settings(), echo=click.echo)


@stack.command("status")
def stack_status() -> None:
    """Print each service's pid and health; exit 1 if any is unhealthy."""
    from pipeline.stack import services

    rows = services.status(get_settings())
    for name, pid, healthy in rows:
        owner = f"pid {pid}" if pid else "not started by sportsflow"
        click.echo(f"{name:10} {'healthy' if healthy else 'DOWN':8} {owner}")
    if not all(healthy for _, _, healthy in rows):
        sys.exit(1)


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def worker(ctx: click.Context) -> None:
    """Run the Faust stream-processing worker (same as `faust -A pipeline.app worker`)."""
    from pipeline.app import app

    sys.argv = ["faust", "worker", "-l", get_settings().log_level.lower(), *ctx.args]
    app.main()


@main.command("normalize")
@click.option("--provider", "-p", help="Provider name, e.g. theoddsapi.")
@click.option("--feed", "-f", help="Feed slug, e.g. odds.")
@click.option("--param", "params", multiple=True, help="Request param key=value (repeatable).")
@click.option("--list", "list_feeds", is_flag=True, help="List every provider/feed pair.")
@click.argument("file", required=False, type=click.File("rb"))
def normalize_cmd(
    provider: str | None, feed: str | None, params: tuple[str, ...], list_feeds: bool, file: click.utils.LazyFile | None
) -> None:
    """Print the canonical records of a provider payload FILE (- for stdin) as JSON lines."""
    from pipeline.normalize_cli import run_normalize

    sys.exit(run_normalize(provider, feed, params, list_feeds, file))


@main.command("resolve")
@click.option("--reference", "references", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Provider team lists {provider, sport, payload} or reference.teams records (JSON lines, a "
                   "dump of the topic) for the team registry, or team pins {sport: {spelling: team name}} "
                   "(repeatable).")
@click.option("--tolerance-s", type=float, default=None, help="Start-time tolerance (default: the worker's).")
@click.argument("files", nargs=-1, required=True, type=click.File("rb"))
def resolve_cmd(references: tuple[Path, ...], tolerance_s: float | None, files: tuple[Any, ...]) -> None:
    """Resolve canonical records (JSON lines from `sportsflow normalize`, FILE or -) to canonical ids."""
    from pipeline.resolve_cli import main as run_resolve

    tolerance = get_settings().processing.match_tolerance_s if tolerance_s is None else tolerance_s
    sys.exit(run_resolve(list(files), list(references), tolerance))


@main.command()
@click.option("--subject", default="demo-client")
@click.option("--ttl-hours", default=24.0)
@click.option("--scope", "scopes", multiple=True, help="Channel scope (default: all channels).")
def token(subject: str, ttl_hours: float, scopes: tuple[str, ...]) -> None:
    """Print a signed JWT for the WebSocket feed."""
    from sinks.websocket.auth import issue_token

    click.echo(issue_token(get_settings().broadcaster, subject, ttl_hours * 3600, list(scopes) or None))


@main.command()
@click.option("--provider", "-p", "only", multiple=True, help="Run only this provider (repeatable).")
def connect(only: tuple[str, ...]) -> None:
    """Run the provider connectors (pollers) and publish raw records to Kafka."""
    from pipeline.commands import connect_main, run_until_signal

    run_until_signal(lambda stop: connect_main(get_settings(), only, stop))


@main.command()
@click.option("--demo", is_flag=True, help="Advance the scripted games in real time.")
@click.option("--matches", default=6, help="Number of scripted matches.")
def simulate(demo: bool, matches: int) -> None:
    """Serve the provider simulator (every provider's real paths, auth and headers)."""
    from pipeline.commands import run_until_signal, simulate_main

    run_until_signal(lambda stop: simulate_main(get_settings(), demo, matches, stop))


@main.command()
def broadcast() -> None:
    """Serve the WebSocket feed of the canonical topics."""
    from pipeline.commands import broadcast_main, run_until_signal

    run_until_signal(lambda stop: broadcast_main(get_settings(), stop))


@main.command()
def run() -> None:
    """Run the demo pipeline: simulator, connectors, worker and WebSocket feed (stack must be up)."""
    from pipeline.commands import run_all

    run_all(get_settings())


@main.command()
@click.option("--channel", "channels", multiple=True, default=("live_scores", "betting_odds"))
@click.option("--count", default=0, help="Stop after this many frames (0: run until Ctrl-C).")
def watch(channels: tuple[str, ...], count: int) -> None:
    """Connect to the WebSocket feed with a demo token and print frames."""
    from pipeline.watch import watch_feed

    asyncio.run(watch_feed(get_settings(), list(channels), count))


@main.command("settings")
def settings_cmd() -> None:
    """Print every setting (environment variable, default, meaning) as a Markdown table."""
    from pipeline.settings_doc import settings_table

    click.echo(settings_table())


@main.command()
@click.option("--write-openapi", "openapi_path", type=click.Path(dir_okay=False), default=None,
              help="Write the OpenAPI document to this file (e.g. docs/openapi.json) and exit.")
def api(openapi_path: str | None) -> None:
    """Serve the REST API (POST /ingest, GET /events, GET /health) with uvicorn."""
    from pathlib import Path

    from sinks.api.app import create_app, openapi_document

    settings = get_settings()
    if openapi_path:
        Path(openapi_path).write_text(openapi_document(settings))
        click.echo(f"wrote {openapi_path}")
        return
    import uvicorn

    from runtime.observability.telemetry import setup_process

    # The same set-up as every other process: secrets registered with the scrubber before the
    # first access-log line, JSON logs outside local, Sentry if configured; /metrics in the lifespan.
    try:
        setup_process(settings, "api")
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    uvicorn.run(create_app(settings, telemetry=True), host=settings.api.host, port=settings.api.port,
                log_config=None)


@main.command()
def sink() -> None:
    """Write the canonical topics into the DynamoDB table (current state and history)."""
    from pipeline.commands import run_until_signal
    from sinks.dynamodb import run_dynamodb_sink

    run_until_signal(lambda stop: run_dynamodb_sink(get_settings(), stop))


@main.command()
def archive() -> None:
    """Archive the raw and canonical topics to S3 as gzip JSON Lines."""
    from pipeline.commands import run_until_signal
    from sinks.archive.writer import run_archive

    async def run(stop: asyncio.Event) -> None:
        await run_archive(get_settings(), stop)

    run_until_signal(run)




# ---------------------------------------------------------------------------------------------
# Backfill and replay (pipeline/replay/cli.py holds the bodies; README "Backfill and replay").

from pipeline.replay.cli import apply_options as _replay_options  # noqa: E402


@main.group("replay", invoke_without_command=True)
@_replay_options(click.option, diff_flag=True)
@click.pass_context
def replay_group(ctx: click.Context, /, **options: Any) -> None:
    """Re-run raw records (Kafka or the S3 archive) through the current normalizers.

    Exit status: 0 done, 1 differences (diff) or a Kafka/S3 failure, 2 a bad selection, 130 stopped.
    """
    if ctx.invoked_subcommand is not None:
        return
    from pipeline.replay.cli import replay_main

    sys.exit(replay_main(**options))


@replay_group.command("diff")
@_replay_options(click.option, diff_flag=False)
def replay_diff_cmd(**options: Any) -> None:
    """Replay a range in memory and diff it with what was published; exit 1 when they differ."""
    from pipeline.replay.cli import replay_main

    sys.exit(replay_main(diff=True, **options))


if __name__ == "__main__":
    main()
