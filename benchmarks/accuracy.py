"""Accuracy harness: scripted fixtures through the simulator, real connectors, Kafka and the worker.

    python -m benchmarks.accuracy --matches 400 --ticks 40 --kill-worker --restart-broker --replay

Plays `matches` fixtures of The Odds API (scores and odds feeds, three sports) tick by tick,
with faults: duplicated raw records, stale (out-of-order) snapshots, malformed payloads, a
provider outage, and optionally a SIGKILL of the worker and a restart of the Kafka broker.
Compares canonical.events and canonical.odds with what the provider served and prints
delivered-correct / expected, lost, duplicated (two versions, one content), wrong, gaps inside a
lineage (epoch), scores moving back without a correction; exits 1 unless all of those are 0.
Needs the local stack (`sportsflow stack up`).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import sys
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from rich.console import Console

from agents.stages.ordering import content_hash
from benchmarks._procs import ROOT, Worker, restart_broker
from benchmarks._stack import OwnKafka
from benchmarks.accuracy_truth import Published, Truth, names_to_sides, score
from connectors.errors import ProviderError
from connectors.policy import CircuitBreaker
from connectors.poller import FeedPoller, ProviderState
from connectors.publisher import KafkaPublisher, RawPublisher
from connectors.simulator.faults import Fault
from connectors.simulator.server import Simulator, build_app
from connectors.simulator.world import World
from connectors.theoddsapi import CONNECTOR as ODDS_API
from pipeline.provision import ensure_topics
from pipeline.replay.run import Request, run_replay
from pipeline.replay.select import build_selection
from runtime.kafka import client_options, partitions_of
from runtime.settings import ProviderSettings, Settings
from schemas import topics
from schemas.envelope import RawEnvelope
from schemas.providers import providers
from schemas.timeutil import iso_z

SPORTS = ("basketball_nba", "americanfootball_nfl", "soccer_epl")


_CONSONANTS, _VOWELS = "bdfgklmnprstvz", "aeiou"


def team_name(seed: int, n: int, side: str) -> str:
    """A pronounceable name no other fixture (of this run, another run or another session) shares."""
    digest = hashlib.blake2b(f"{seed}|{n}|{side}".encode(), digest_size=12).digest()
    words = []
    for chunk in (digest[:6], digest[6:]):
        word = "".join(_CONSONANTS[b % len(_CONSONANTS)] + _VOWELS[(b // 16) % len(_VOWELS)] for b in chunk[:4])
        words.append(word.capitalize())
    return " ".join(words)


def make_world(matches: int, ticks: int, seed: int) -> World:
    world = World(seed=seed, matches=matches, live_ticks=ticks)
    done: list = []
    for n, match in enumerate(world.matches.values()):
        previous = next((m for m in reversed(done) if m.sport_key == match.sport_key), None)
        if n % 5 == 4 and previous is not None:
            # The same teams twice in a day: a second fixture five hours after the first (it stays
            # scheduled, its odds move): two canonical ids, never one.
            match.home, match.away = previous.home, previous.away
            match.commence = previous.commence + timedelta(hours=5)
        else:
            # Otherwise made-up teams of this run: resolution matches names fuzzily, so a real club's name
            # with a suffix could be matched to another session's fixture of that club on a shared broker.
            match.home, match.away = team_name(seed, n, "home"), team_name(seed, n, "away")
            match.commence = world.now + timedelta(seconds=3 * (n % 8))  # staggered over 8 ticks
        done.append(match)
    return world


class Recorder:
    """aiohttp middleware: every successful scores/odds response is ground truth."""

    def __init__(self, truth: Truth) -> None:
        self.truth = truth
        self.responses = 0

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        response = await handler(request)
        if isinstance(response, web.Response) and response.status == 200 and response.body is not None:
            try:
                body = orjson.loads(bytes(response.body))  # type: ignore[arg-type]
            except orjson.JSONDecodeError:
                return response  # a malformed-body fault: the connector rejects it, nothing was served
            if request.path.endswith("/scores"):
                self.truth.served_scores(body)
            elif request.path.endswith("/odds"):
                self.truth.served_odds(body)
            self.responses += 1
        return response


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


class Reader:
    """One groupless consumer: notes where the canonical topics end now, later reads what came after."""

    def __init__(self, settings: Settings, names: tuple[str, ...]) -> None:
        self.consumer = AIOKafkaConsumer(**client_options(settings), group_id=None, enable_auto_commit=False,
                                         max_poll_records=5000)
        self.names = names
        self.start: dict[TopicPartition, int] = {}

    async def mark(self) -> None:
        await self.consumer.start()
        parts = [TopicPartition(t, p) for t in self.names for p in sorted(await partitions_of(self.consumer, t))]
        self.consumer.assign(parts)
        self.start = dict(await self.consumer.end_offsets(parts))
        for tp, offset in self.start.items():
            self.consumer.seek(tp, offset)  # fetching starts here and buffers while the run plays

    async def read(self, quiet_s: float, app_id: bytes) -> list[Any]:
        """Everything after the mark, until nothing new arrived from worker `app_id` for `quiet_s`
        (other sessions' traffic on a shared broker is no news about this run)."""
        records: list[Any] = []
        last_new = time.monotonic()
        try:
            while time.monotonic() - last_new < quiet_s:
                batches = await self.consumer.getmany(timeout_ms=500)
                for messages in batches.values():
                    records.extend(messages)
                    if any(dict(m.headers or []).get("sf-app") == app_id for m in messages):
                        last_new = time.monotonic()
        finally:
            await self.consumer.stop()
        return records


async def inject_malformed(settings: Settings, count: int) -> None:
    producer = AIOKafkaProducer(**client_options(settings), acks="all")
    await producer.start()
    try:
        topic = topics.raw_topic("theoddsapi")
        for i in range(count):
            if i % 2:
                value = f"not an envelope {i}".encode()
            else:
                value = RawEnvelope(provider="theoddsapi", feed="odds", key=f"bad-{i}",
                                    payload=[{"id": f"bad-{i}", "sport_key": "x"}]).to_json()
            await producer.send(topic, value=value, key=f"bad-{i}".encode())
        await producer.flush()
    finally:
        await producer.stop()


async def end_offsets(settings: Settings, topic: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in sorted(await partitions_of(consumer, topic))]
        return dict(await consumer.end_offsets(parts))
    finally:
        await consumer.stop()


async def wait_committed(settings: Settings, group: str, targets: dict[TopicPartition, int],
                         timeout_s: float = 180.0) -> None:
    """Until the worker's consumer group has committed at least `targets` (it processed everything before)."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            committed = await admin.list_consumer_group_offsets(group)
            if all(tp in committed and committed[tp].offset >= end for tp, end in targets.items() if end > 0):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{group} did not catch up with {targets} in {timeout_s}s")
            await asyncio.sleep(1.0)
    finally:
        await admin.close()


async def replay_range(settings: Settings, start: datetime, end: datetime, keys: list[str],
                       stats: dict[str, int], *, group: str, raw_ends: dict[TopicPartition, int]) -> None:
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
    selection = build_selection(topic_names=[topics.raw_topic("theoddsapi")], start=iso_z(start), end=iso_z(end),
                                keys=keys, known_providers=providers())
    request = Request(selection, "kafka", output=None, resume=None)
    report = await run_replay(settings, request, asyncio.Event(), Console(file=io.StringIO()))
    stats["replay_read"] += report.read
    stats["replay_published"] += sum(report.published.values())


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
    async with OwnKafka(Settings()) as own:
        return await play(args, own.settings, own.env)


async def play(args: argparse.Namespace, settings: Settings, env: dict[str, str]) -> dict[str, Any]:
    """One run against `settings`' broker; `env` points the worker process at the same broker."""
    run_id = uuid.uuid4().hex[:8]
    await ensure_topics(settings)
    truth = Truth()
    recorder = Recorder(truth)
    world = make_world(args.matches, args.ticks, seed=int(run_id, 16) % 100_000)
    sim = Simulator(world)
    app = build_app(sim)
    app.middlewares.append(recorder.middleware)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    reader = Reader(settings, (topics.EVENTS, topics.ODDS, topics.DEADLETTER))
    await reader.mark()
    # On a broker of its own the worker reads the raw topics from their start (only this run is there);
    # on a shared one from their end (other sessions' backlog is no business of this run).
    reset = "earliest" if env else "latest"
    worker = Worker(f"accuracy-{run_id}", ROOT / ".stack" / "logs",
                    {**env, "SPORTSFLOW_PROCESSING__AUTO_OFFSET_RESET": reset})
    worker.start()
    try:
        provider_settings = ProviderSettings(
            base_url=f"http://127.0.0.1:{port}", api_key=sim.key_for("theoddsapi"),  # type: ignore[arg-type]
            params={"sports": ",".join(SPORTS)},
        )
        stats = {"provider_errors": 0, "publish_errors": 0, "duplicates_injected": 0, "malformed_injected": 0,
                 "worker_kills": 0, "broker_restart_s": 0, "replay_read": 0, "replay_published": 0,
                 "replay_waited_s": 0, "replay_commit_wait_timeouts": 0}
        started = time.monotonic()
        run_start, replay_until = datetime.now(UTC), datetime.now(UTC)
        raw_ends: dict[TopicPartition, int] = {}
        async with KafkaPublisher(client_options(settings)) as kafka, httpx.AsyncClient(
            base_url=provider_settings.base_url or "", timeout=10.0
        ) as client:
            publisher = DuplicatingPublisher(kafka)
            # The connector's breaker, with a short reset so the run does not idle through the outage.
            state = ProviderState(breaker=CircuitBreaker(threshold=5, reset_s=2.0), feeds=6)
            pollers = [FeedPoller(ODDS_API, feed, settings=provider_settings, client=client, publisher=publisher,
                                  state=state) for feed in ODDS_API.feeds(provider_settings)]
            total_ticks = args.ticks + 10
            for tick in range(total_ticks):
                world.tick(3.0)
                if tick == total_ticks // 5:
                    sim.faults.add("theoddsapi", Fault("out_of_order"), count=3)
                if tick == total_ticks // 4:
                    await inject_malformed(settings, 100)
                    stats["malformed_injected"] = 100
                if tick == total_ticks // 3:
                    sim.faults.add("theoddsapi", Fault("server_error"), count=6 * 3)  # three ticks of outage
                    sim.faults.add("theoddsapi", Fault("malformed"), count=2)
                await poll_all(pollers, stats)
                if state.breaker.is_open:
                    await asyncio.sleep(state.breaker.remaining_s())
                    await poll_all(pollers, stats)
                if tick % 7 == 3:
                    stats["duplicates_injected"] += await publisher.replay_last()
                if args.kill_worker and tick == total_ticks // 2:
                    worker.kill()
                    stats["worker_kills"] += 1
                    worker.start(wait_ready=False)
                if args.restart_broker and tick == (2 * total_ticks) // 3:
                    stats["broker_restart_s"] = round(await asyncio.to_thread(restart_broker, settings), 1)
                if tick == total_ticks // 3:
                    replay_until = datetime.now(UTC)
                    raw_ends = await end_offsets(settings, topics.raw_topic("theoddsapi"))
                if args.replay and tick == (3 * total_ticks) // 4:
                    await replay_range(settings, run_start, replay_until, list(world.matches), stats,
                                       group=worker.app_id, raw_ends=raw_ends)
                if not worker.alive():  # a supervisor (ECS, systemd) restarts a worker that stopped itself
                    worker.start(wait_ready=False)
            await poll_all(pollers, stats)  # the final state of every match
            stats["raw_published"] = publisher.published
        play_s = time.monotonic() - started
        if not worker.alive():
            worker.start(wait_ready=False)
        await asyncio.to_thread(worker.wait_ready)
        records = await reader.read(quiet_s=args.quiet_s, app_id=worker.app_id.encode())
        drain_s = time.monotonic() - started - play_s
        await runner.cleanup()
    finally:
        worker.stop()  # on failure too: no orphaned worker
    return summarize(truth, records, stats, play_s, drain_s, worker, recorder)


def summarize(truth: Truth, records: list[Any], stats: dict[str, Any], play_s: float, drain_s: float,
              worker: Worker, recorder: Recorder) -> dict[str, Any]:
    published = Published()
    dead_letters = 0
    # One provider id per canonical id and back (the same teams twice in a day must stay two fixtures).
    ids_of: dict[str, set[str]] = defaultdict(set)
    pids_of: dict[str, set[str]] = defaultdict(set)
    ours = {e.split("|", 2)[1] for e in truth.expected}
    app_id = worker.app_id.encode()
    for message in records:
        if dict(message.headers or []).get("sf-app") != app_id:
            continue  # another worker (another app id) sharing this Kafka
        record = orjson.loads(message.value)
        if message.topic == topics.DEADLETTER:
            dead_letters += str(record.get("payload", "")).find("bad-") >= 0 or "not an envelope" in str(
                record.get("payload", ""))
            continue
        pid = record.get("providerEventId")
        if pid not in ours:
            continue
        canonical = record.get("eventId") or record.get("id")
        ids_of[pid].add(canonical)
        pids_of[canonical].add(pid)
        version = (int(record.get("epoch", 0)), int(record["seq"]))
        content, correction = content_hash(record), bool(record.get("correction"))
        if record["type"] == "event":
            score_ = record["score"]
            state = None if score_["home"] is None else (score_["home"], score_["away"], record["status"])
            published.add(f"event|{pid}", version, state, content, correction)
        elif record["type"] == "odds":
            published.add(f"odds|{pid}|{record['bookmaker']}|{record['market']}", version,
                          names_to_sides(record), content, correction)
    result = score(truth, published)
    merged = sum(len(p) > 1 for p in pids_of.values())
    split = sum(len(c) > 1 for c in ids_of.values())
    return {
        "expected_updates": result.expected, "delivered_correct": result.correct,
        "accuracy_pct": round(100 * result.accuracy, 4), "lost": result.lost, "duplicated": result.duplicated,
        "wrong": result.wrong, "seq_gaps": result.seq_gaps, "backwards_without_correction": result.backwards,
        "new_lineages": result.lineages, "fixtures_merged": merged, "fixtures_split": split,
        "ok": result.ok and published.conflicting == 0 and stats["replay_published"] == 0 and merged == split == 0,
        "redelivered_same_key_and_version": published.redelivered, "conflicting_versions": published.conflicting,
        "dead_letters": f"{dead_letters}/{stats['malformed_injected']}", "examples": result.examples,
        "provider_responses": recorder.responses, "worker_starts": worker.starts,
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
    parser.add_argument("--quiet-s", type=float, default=20.0, help="stop reading after this long without news")
    args = parser.parse_args()
    if args.restart_broker and not args.own_stack:
        parser.error("--restart-broker needs --own-stack: a shared broker (other tests, sessions) is never restarted")
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2))
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
