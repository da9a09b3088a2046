"""Accuracy harness: scripted fixtures through the simulator, real connectors, Kafka and the worker.

    python -m benchmarks.accuracy --matches 400 --ticks 40 --kill-worker --restart-broker --replay --push

Plays `matches` fixtures tick by tick, served by several providers, each through its real connector
and spelling the teams its own way (`benchmarks/accuracy_world.py`): The Odds API's scores and
odds-only feeds every tick (three sports), API-Sports' football fixtures and basketball games every
`--apisports-every` ticks, and with `--push` STATSCORE's incidents pushed over RabbitMQ. Faults:
repeated raw records, repeated and out-of-order polls, malformed payloads, a provider outage, and
optionally a SIGKILL of the worker, a restart of the Kafka broker and a replay in the middle, and
with `--load N` N busy processes beside it all (a loaded box: catching up after the faults is slow).
Compares canonical.events and canonical.odds with what the providers served and prints
delivered-correct / expected, lost, duplicated (two versions, one content), wrong, gaps inside a
lineage (epoch), scores moving back without a correction, superseded states published again,
fixtures merged or split; exits 1 unless all of those are 0. Needs the local stack (`sportsflow stack up`).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import aio_pika
import httpx
import orjson
from aiohttp import web
from aiokafka import TopicPartition
from pydantic import SecretStr
from rich.console import Console

from agents.stages.ordering import content_hash
from benchmarks._procs import ROOT, Worker, busy_processes, restart_broker
from benchmarks._stack import OwnKafka
from benchmarks.accuracy_kafka import Reader, dump, end_offsets, inject_malformed, wait_committed
from benchmarks.accuracy_truth import Published, Truth, by_side, score
from benchmarks.accuracy_world import Recorder, make_world, provider_ids, raw_keys, team_name
from connectors.amqp import AmqpConsumer, AmqpEndpoint
from connectors.apisports import ApiSports
from connectors.errors import ProviderError
from connectors.health import HealthMonitor
from connectors.policy import CircuitBreaker
from connectors.poller import FeedPoller, ProviderState
from connectors.publisher import KafkaPublisher, RawPublisher
from connectors.simulator import statscore as sim_statscore
from connectors.simulator.faults import Fault
from connectors.simulator.server import Simulator, build_app
from connectors.statscore import IncidentHandler
from connectors.theoddsapi import CONNECTOR as ODDS_API
from pipeline.provision import ensure_topics
from pipeline.replay.run import Request, run_replay
from pipeline.replay.select import build_selection
from runtime.kafka import client_options
from runtime.settings import ProviderSettings, Settings
from schemas import topics
from schemas.envelope import RawEnvelope
from schemas.providers import providers
from schemas.timeutil import iso_z

__all__ = ["main", "run", "team_name"]  # team_name: other tests' worlds use it too

SPORTS = ("basketball_nba", "americanfootball_nfl", "soccer_epl")
PROVIDERS = ("theoddsapi", "apisports")


class DuplicatingPublisher:
    """Publishes through Kafka and, on request, publishes the same envelopes a second time."""

    def __init__(self, inner: RawPublisher) -> None:
        self.inner = inner
        self.last: list[RawEnvelope] = []
        self.published = 0

    async def publish(self, envelopes: Any) -> None:
        await self.inner.publish(envelopes)
        self.published += len(envelopes)
        self.last = list(envelopes)

    async def replay_last(self) -> int:
        again = [e.model_copy(update={"id": uuid.uuid4().hex}) for e in self.last]
        await self.inner.publish(again)
        return len(again)


async def replay_range(settings: Settings, start: datetime, end: datetime, keys: list[str],
                       stats: dict[str, Any], *, group: str, raw_ends: dict[TopicPartition, int],
                       raw_topics: list[str]) -> None:
    """`sportsflow replay` of this run's first third into the canonical topics, while the run goes on.
    It waits until the worker has processed that range (both stages), so the replay must publish nothing."""
    waited = time.monotonic()
    try:
        await wait_committed(settings, topics.normalize_group(group), raw_ends, 90.0)  # stage 1 reads the raw topics
        await wait_committed(settings, group, await end_offsets(settings, topics.resolve_topic(group)), 90.0)
    except RuntimeError as exc:
        # Seen after a broker restart: the worker goes on processing but its commit never completes. The
        # replay runs anyway (the worker has processed the range by now) and the audit judges what it publishes.
        stats["replay_commit_wait_timeouts"] += 1
        print(f"warning: {exc}", file=sys.stderr)
    stats["replay_waited_s"] = round(time.monotonic() - waited)
    selection = build_selection(topic_names=raw_topics, start=iso_z(start), end=iso_z(end),
                                keys=keys, known_providers=providers())
    request = Request(selection, "kafka", output=None, resume=None)
    report = await run_replay(settings, request, asyncio.Event(), Console(file=io.StringIO()))
    stats["replay_read"] += report.read
    stats["replay_published"] += sum(report.published.values())
    stats["replay_published_by_topic"] = {str(k): v for k, v in report.published.items() if v}
    stats["replay_published_examples"] = [e.decode(errors="replace")[:2000] for e in report.published_examples]


async def start_push(app: web.Application, url: str, queue: str, recorder: Recorder, publisher: RawPublisher,
                     settings: Settings) -> tuple[AmqpConsumer, asyncio.Event, asyncio.Task[None]]:
    """STATSCORE pushes every change to a queue of this run; the real AMQP consumer publishes it raw."""
    await sim_statscore.declare_queue(url, queue)
    app[sim_statscore.STATE].on_push = recorder.pushed
    sim_statscore.start_push(app, url, queue)
    endpoint = AmqpEndpoint(host="127.0.0.1", port=settings.stack.rabbitmq_port, tls=False, username="guest",
                            password=SecretStr("guest"), queue=queue, queue_passive=True)
    consumer = AmqpConsumer("statscore", "incidents", endpoint, IncidentHandler(), publisher=publisher,
                            monitor=HealthMonitor(), expected_beat_s=30.0, idle_beats=True)
    stop = asyncio.Event()
    return consumer, stop, asyncio.create_task(consumer.run(stop))


async def stop_push(app: web.Application, pushed: tuple[AmqpConsumer, asyncio.Event, asyncio.Task[None]],
                    url: str, queue: str) -> int:
    """Once every message pushed so far is delivered (the world is over), stop; the run's queue is deleted."""
    consumer, stop, task = pushed
    state = app[sim_statscore.STATE]
    await asyncio.sleep(2 * state.watch_s)  # the pusher's last look at the world
    for _ in range(300):  # at most a minute
        if consumer.delivered >= state.pushed:
            break
        await asyncio.sleep(0.2)
    stop.set()
    await task
    connection = await aio_pika.connect(url)
    async with connection:
        await (await connection.channel()).queue_delete(queue)
    return consumer.delivered


async def supervise(worker: Worker) -> None:
    """What ECS or systemd does: a worker that stopped by itself (the worker exits on purpose when it finds
    records skipped, a commit hung or a recovery stuck) is started again at once, during the whole run."""
    while True:
        await asyncio.sleep(0.5)
        if not worker.alive():
            worker.start(wait_ready=False)


async def wait_ready(worker: Worker, attempts: int = 5) -> None:
    """Until the latest start of the worker is Ready; a start that stops by itself is replaced (supervise)."""
    for _ in range(attempts):
        try:
            await asyncio.to_thread(worker.wait_ready)
            return
        except RuntimeError:
            await asyncio.sleep(1.0)  # it exited: the supervisor starts it again
    await asyncio.to_thread(worker.wait_ready)


async def poll_all(pollers: list[FeedPoller], stats: dict[str, int]) -> None:
    for poller in pollers:
        try:
            await poller.poll_once()
        except ProviderError:
            stats["provider_errors"] += 1  # backoff is the connector's; the harness just polls again next tick
        except Exception:
            stats["publish_errors"] += 1


async def run(args: argparse.Namespace) -> dict[str, Any]:
    if not getattr(args, "own_stack", False):
        return await play(args, Settings(), {})
    async with OwnKafka(Settings(), keep=bool(getattr(args, "keep_broker", False))) as own:
        if own.keep:
            print(f"the broker's data stays in {own.home}", file=sys.stderr)
        return await play(args, own.settings, own.env)


async def play(args: argparse.Namespace, settings: Settings, env: dict[str, str]) -> dict[str, Any]:
    """One run against `settings`' broker; `env` points the worker process at the same broker."""
    run_id = uuid.uuid4().hex[:8]
    await ensure_topics(settings)
    world = make_world(args.matches, args.ticks, seed=int(run_id, 16) % 100_000)
    truth = Truth(ids=provider_ids(world))
    recorder = Recorder(truth)
    sim = Simulator(world)
    app = build_app(sim)
    app.middlewares.append(recorder.middleware)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base_url = f"http://127.0.0.1:{port}"

    reader = Reader(settings, (topics.EVENTS, topics.ODDS, topics.DEADLETTER))
    await reader.mark()
    # On a broker of its own the worker reads the raw topics from their start (only this run is there);
    # on a shared one from their end (other sessions' backlog is no business of this run).
    reset = "earliest" if env else "latest"
    worker = Worker(f"accuracy-{run_id}", ROOT / ".stack" / "logs",
                    {**env, "SPORTSFLOW_PROCESSING__AUTO_OFFSET_RESET": reset})
    worker.start()
    supervisor = asyncio.create_task(supervise(worker))
    burners = busy_processes(getattr(args, "load", 0))
    push = bool(getattr(args, "push", False))
    raw_topics = [topics.raw_topic(p) for p in (*PROVIDERS, *(("statscore",) if push else ()))]
    amqp_url = f"amqp://guest:guest@127.0.0.1:{settings.stack.rabbitmq_port}/"
    push_queue = f"statscore.accuracy-{run_id}"
    try:
        odds_settings = ProviderSettings(base_url=base_url, api_key=sim.key_for("theoddsapi"),
                                         params={"sports": ",".join(SPORTS)})
        api_settings = ProviderSettings(base_url=base_url, api_key=sim.key_for("apisports"),
                                        feeds=["football-fixtures", "basketball-games"])
        api_sports = ApiSports(clock=lambda: world.now)  # "today" is the world's day
        stats: dict[str, Any] = {
            "provider_errors": 0, "publish_errors": 0, "duplicates_injected": 0, "malformed_injected": 0,
            "load_processes": len(burners), "worker_kills": 0, "broker_restart_s": 0, "replay_read": 0,
            "replay_published": 0,
            "replay_waited_s": 0, "replay_commit_wait_timeouts": 0}
        started = time.monotonic()
        run_start, replay_until = datetime.now(UTC), datetime.now(UTC)
        raw_ends: dict[TopicPartition, int] = {}
        async with KafkaPublisher(client_options(settings)) as kafka, httpx.AsyncClient(
            base_url=base_url, timeout=10.0
        ) as client:
            publisher = DuplicatingPublisher(kafka)
            # The connectors' breakers, with a short reset so the run does not idle through the outage.
            state = ProviderState(breaker=CircuitBreaker(threshold=5, reset_s=2.0), feeds=6)
            pollers = [FeedPoller(ODDS_API, feed, settings=odds_settings, client=client, publisher=publisher,
                                  state=state) for feed in ODDS_API.feeds(odds_settings)]
            api_state = ProviderState(breaker=CircuitBreaker(threshold=5, reset_s=2.0), feeds=3)
            api_pollers = [FeedPoller(api_sports, feed, settings=api_settings, client=client, publisher=publisher,
                                      state=api_state) for feed in api_sports.feeds(api_settings)]
            pushed = await start_push(app, amqp_url, push_queue, recorder, publisher, settings) if push else None
            total_ticks = args.ticks + 10
            for tick in range(total_ticks):
                world.tick(3.0)
                if tick == total_ticks // 5:
                    sim.faults.add("theoddsapi", Fault("out_of_order"), count=3)
                    sim.faults.add("apisports", Fault("out_of_order"), count=2)
                if tick == total_ticks // 4:
                    await inject_malformed(settings, 100)
                    stats["malformed_injected"] = 100
                    sim.faults.add("apisports", Fault("duplicate"), count=3)  # a repeated poll, sent on again
                if tick == total_ticks // 3:
                    # The Odds API is down for three ticks while API-Sports goes on: its scores must carry on.
                    sim.faults.add("theoddsapi", Fault("server_error"), count=6 * 3)
                    sim.faults.add("theoddsapi", Fault("malformed"), count=2)
                await poll_all(pollers, stats)
                if state.breaker.is_open:
                    await asyncio.sleep(state.breaker.remaining_s())
                    await poll_all(pollers, stats)
                if tick % getattr(args, "apisports_every", 3) == 0:
                    await poll_all(api_pollers, stats)
                if tick % 7 == 3:
                    stats["duplicates_injected"] += await publisher.replay_last()
                if args.kill_worker and tick == total_ticks // 2:
                    stats["worker_killed_at_s"] = round(time.monotonic() - truth.started, 1)
                    worker.kill()
                    stats["worker_kills"] += 1
                    worker.start(wait_ready=False)
                if args.restart_broker and tick == (2 * total_ticks) // 3:
                    stats["broker_restarted_at_s"] = round(time.monotonic() - truth.started, 1)
                    stats["broker_restart_s"] = round(await asyncio.to_thread(restart_broker, settings), 1)
                if tick == total_ticks // 3:
                    replay_until = datetime.now(UTC)
                    raw_ends = {tp: end for topic in raw_topics
                                for tp, end in (await end_offsets(settings, topic)).items()}
                if args.replay and tick == (3 * total_ticks) // 4:
                    await replay_range(settings, run_start, replay_until, raw_keys(truth.ids), stats,
                                       group=worker.app_id, raw_ends=raw_ends, raw_topics=raw_topics)
            await poll_all(pollers + api_pollers, stats)  # the final state of every match
            if pushed is not None:
                stats["push_delivered"] = await stop_push(app, pushed, amqp_url, push_queue)
            stats["raw_published"] = publisher.published
        play_s = time.monotonic() - started
        await wait_ready(worker)
        records = await reader.read(quiet_s=args.quiet_s, app_id=worker.app_id.encode(),
                                    busy=lambda: not worker.alive() or "Worker]: Ready" not in worker.log_text())
        drain_s = time.monotonic() - started - play_s
        await runner.cleanup()
    finally:
        supervisor.cancel()
        for burner in burners:
            burner.kill()
            burner.wait()  # at once: killed
        worker.stop()  # on failure too: no orphaned worker
    if getattr(args, "dump", None):
        dump(args.dump, records)
    return summarize(truth, records, stats, play_s, drain_s, worker, recorder,
                     {m.id: m.sport_key for m in world.matches.values()})


def summarize(truth: Truth, records: list[Any], stats: dict[str, Any], play_s: float, drain_s: float,
              worker: Worker, recorder: Recorder, sport_of: dict[str, str] | None = None) -> dict[str, Any]:
    published = Published()
    sport_of = sport_of or {}
    dead_letters = 0
    # One real fixture per canonical id and back: a fixture served by two providers is one canonical event,
    # the same teams twice in a day are two.
    matches_of: dict[str, set[str]] = defaultdict(set)
    ids_of: dict[str, set[str]] = defaultdict(set)
    providers_of: dict[str, set[str]] = defaultdict(set)
    app_id = worker.app_id.encode()
    events: list[dict[str, Any]] = []
    for message in records:
        if dict(message.headers or []).get("sf-app") != app_id:
            continue  # another worker (another app id) sharing this Kafka
        record = orjson.loads(message.value)
        if message.topic == topics.DEADLETTER:
            dead_letters += str(record.get("payload", "")).find("bad-") >= 0 or "not an envelope" in str(
                record.get("payload", ""))
            continue
        if record["type"] == "event":
            refs = {(p, str(pid)) for p, pid in (record.get("refs") or {}).items()}
            refs.add((record["provider"], str(record["providerEventId"])))
            found = {truth.ids[r] for r in refs if r in truth.ids}
            if not found:
                continue  # not this run's
            matches_of[record["id"]].update(found)
            providers_of[record["id"]].update(p for p, _ in refs)
            for match in found:
                ids_of[match].add(record["id"])
            events.append(record)
        elif record["type"] == "odds" and ("theoddsapi", record.get("providerEventId")) in truth.ids:
            content, correction = content_hash(record), bool(record.get("correction"))
            published.add(f"odds|{record['providerEventId']}|{record['bookmaker']}|{record['market']}",
                          (int(record.get("epoch", 0)), int(record["seq"])), by_side(record), content,
                          correction)
    for record in events:
        match = min(matches_of[record["id"]])  # merged fixtures are counted below; audit under one of them
        score_ = record["score"]
        state = None if score_["home"] is None else (score_["home"], score_["away"], record["status"])
        published.add(f"event|{match}", (int(record.get("epoch", 0)), int(record["seq"])), state,
                      content_hash(record), bool(record.get("correction")), str(record.get("source", "")))
    result = score(truth, published)
    lost_by: dict[str, int] = defaultdict(int)
    for entity, count in result.lost_by_entity.items():
        kind, match = entity.split("|")[:2]
        lost_by[f"{kind}:{sport_of.get(match, '?')}"] += count
    merged = sum(len(m) > 1 for m in matches_of.values())
    split = sum(len(c) > 1 for c in ids_of.values())
    both = sum(len(p) > 1 for p in providers_of.values())
    return {
        "expected_updates": result.expected, "delivered_correct": result.correct,
        "accuracy_pct": round(100 * result.accuracy, 4), "lost": result.lost, "duplicated": result.duplicated,
        "wrong": result.wrong, "seq_gaps": result.seq_gaps, "backwards_without_correction": result.backwards,
        "regressed_to_superseded_state": result.regressed, "corrections": result.corrections,
        "new_lineages": result.lineages, "fixtures_merged": merged, "fixtures_split": split,
        "fixtures_of_several_providers": both,
        "ok": result.ok and published.conflicting == 0 and stats["replay_published"] == 0 and merged == split == 0,
        "redelivered_same_key_and_version": published.redelivered, "conflicting_versions": published.conflicting,
        "lost_by_kind_and_sport": dict(lost_by), "lost_by_tenth_of_match": result.lost_by_tenth,
        "conflict_examples": published.conflicts[:8], "incomparable_served": truth.incomparable,
        "dead_letters": f"{dead_letters}/{stats['malformed_injected']}", "lost_states": result.lost_states,
        "examples": result.examples,
        "provider_responses": recorder.responses, "worker_starts": worker.starts, "worker_log": str(worker.log_path),
        # Stage 1 gave up waiting for a partition behind (agents/aligned.py), in any start: from the worker log.
        "order_given_up": worker.log_path.read_text(errors="replace").count("out of record-time order"),
        "play_s": round(play_s, 1), "drain_s": round(drain_s, 1), **stats,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--matches", type=int, default=400)
    parser.add_argument("--ticks", type=int, default=40)
    parser.add_argument("--kill-worker", action="store_true")
    parser.add_argument("--restart-broker", action="store_true")
    parser.add_argument("--replay", action="store_true", help="replay the run's first third in the middle of it")
    parser.add_argument("--own-stack", action="store_true",
                        help="run on a broker of its own (free ports; needed with --restart-broker on a shared stack)")
    parser.add_argument("--keep-broker", action="store_true",
                        help="with --own-stack: keep the broker's data (raw, resolve, changelog topics) to look into")
    parser.add_argument("--dump", help="write every canonical record read back to this JSON-lines file")
    parser.add_argument("--apisports-every", type=int, default=3, help="API-Sports is polled every N ticks")
    parser.add_argument("--push", action="store_true",
                        help="add STATSCORE's push feed (incidents over the stack's RabbitMQ, a queue of this run)")
    parser.add_argument("--load", type=int, default=0,
                        help="run this many busy processes beside everything (a loaded box: slow catch-ups)")
    parser.add_argument("--quiet-s", type=float, default=20.0, help="stop reading after this long without news")
    args = parser.parse_args()
    if args.restart_broker and not args.own_stack:
        parser.error("--restart-broker needs --own-stack: a shared broker (other tests, sessions) is never restarted")
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2))
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
