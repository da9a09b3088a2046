"""Every app metric terraform/ names is emitted by the process that owns it, seen from outside.

The real commands run as child processes on free ports against the local stack: the provider
simulator, `sportsflow connect` (pollers against it), a Faust worker with its own app id,
`sportsflow broadcast` with real WebSocket clients (one stays, one drops without a close frame) and
`sportsflow api` (one accepted and one rejected /ingest post), and `sportsflow sink` and `sportsflow
archive` for the worker's output. The test reads their EMF lines on
stdout, as the awslogs driver would ship them, and scrapes their Prometheus `/metrics`. The list of
metrics and dimensions comes from parsing terraform/ (tests/terraform/app_metrics.py). Last, the
staying client checks a live frame's freshness stamps, and every series the Grafana dashboard
(grafana/sportsflow.json) queries must be served by some process.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from agents import stages
from pipeline.commands import demo_environment
from runtime.observability import emf
from runtime.observability.prometheus import EMF_EQUIVALENTS
from runtime.settings import Settings, SimulatorSettings
from sinks.websocket.auth import issue_token
from tests.conftest import ROOT, TIME_UNIT, fixture_path, free_port
from tests.pipeline import dashboard
from tests.terraform.app_metrics import referenced

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

JWT_SECRET = "outside-in-jwt-secret-0123456789abcdef"
INGEST_KEY = "outside-in-ingest-key-0123456789"
# A gauge the test world cannot drive above zero: the worker keeps up, so its lag is often 0.
MAY_BE_ZERO = {"ConsumerLag"}
Ref = tuple[str, tuple[tuple[str, str | None], ...]]


@dataclass
class Process:
    component: str
    argv: list[str]
    env: dict[str, str]
    metrics_port: int
    logs: Path
    proc: subprocess.Popen[bytes] | None = None
    extra: dict[str, int] = field(default_factory=dict)

    @property
    def stdout(self) -> Path:
        return self.logs / f"{self.component}.out"

    @property
    def stderr(self) -> Path:
        return self.logs / f"{self.component}.err"

    def start(self) -> None:
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=err)

    def emf_documents(self) -> list[dict[str, Any]]:
        docs = []
        for line in self.stdout.read_bytes().splitlines():
            if line.startswith(b"{") and b'"_aws"' in line:
                try:
                    docs.append(orjson.loads(line))
                except orjson.JSONDecodeError:  # a line being written right now
                    continue
        return docs

    def scrape(self) -> list[tuple[str, dict[str, str], float]]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            text = response.read().decode()
        return [(s.name, dict(s.labels), s.value) for family in text_string_to_metric_families(text)
                for s in family.samples]

    def alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.component} exited with {self.proc.returncode}:\n"
                                 f"{self.stderr.read_text(errors='replace')[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _emits(doc: dict[str, Any], metric: str, dims: tuple[tuple[str, str | None], ...]) -> bool:
    [directive] = doc["_aws"]["CloudWatchMetrics"]
    names = {m["Name"] for m in directive["Metrics"]}
    sets = {tuple(sorted(s)) for s in directive["Dimensions"]}
    return (metric in names and tuple(sorted(k for k, _ in dims)) in sets
            and all(v is None or doc.get(k) == v for k, v in dims))


def missing_emf(procs: list[Process], refs: list[Ref]) -> list[str]:
    """The references that an owning process has not written an EMF document for (yet)."""
    docs = {p.component: p.emf_documents() for p in procs}
    missing = []
    for metric, dims in refs:
        owners = emf.owners(metric, dict(dims))
        if not owners:
            missing.append(f"{metric}: no owner declared in runtime/observability/emf.py")
        missing += [f"{metric} {dict(dims)} from {owner}" for owner in sorted(owners)
                    if not any(d.get("component") == owner and _emits(d, metric, dims) for d in docs[owner])]
    return missing


def missing_prometheus(procs: list[Process], refs: list[Ref]) -> list[str]:
    """The references whose Prometheus series an owning process does not serve (with a non-zero value)."""
    missing = []
    scraped = {p.component: p.scrape() for p in procs}
    for metric, dims in refs:
        series, labels = EMF_EQUIVALENTS[metric]
        wanted = {labels[k]: v for k, v in dims if k in labels}
        for owner in sorted(emf.owners(metric, dict(dims))):
            samples = [value for name, got, value in scraped[owner] if name == series
                       and all(k in got and (v is None or got[k] == v) for k, v in wanted.items())]
            if not samples or (metric not in MAY_BE_ZERO and max(samples) <= 0):
                missing.append(f"{metric} -> {series} {wanted} from {owner} (samples: {samples})")
    return missing


def missing_dashboard_series(procs: list[Process]) -> list[str]:
    """Series grafana/sportsflow.json queries that no process serves on /metrics."""
    served = set()
    for p in procs:
        with urllib.request.urlopen(f"http://127.0.0.1:{p.metrics_port}/metrics", timeout=5) as response:
            text = response.read().decode()
        for family in text_string_to_metric_families(text):
            served |= {family.name, *(s.name for s in family.samples)}
            served |= {family.name + suffix for suffix in ("_total", "_bucket", "_count", "_sum")}
    return sorted(dashboard.series() - served)


def consumed_by_sinks(processes: dict[str, Process]) -> bool | list[str]:
    """True once the sink and the archive each count consumed records under their group; else what is missing."""
    missing = []
    for name, suffix in (("sink", "-dynamodb"), ("archive", "-archive")):
        rows = processes[name].scrape()
        if not any(n == "sportsflow_sink_consumed_total" and labels.get("group", "").endswith(suffix) and value > 0
                   for n, labels, value in rows):
            missing.append(name)
        if not any(n == "sportsflow_sink_lag" for n, _, _ in rows):
            missing.append(f"{name} lag")
    return missing or True


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # it answers (a degraded /health is still up)
    except OSError:
        return False


def _post(url: str, content: bytes) -> int:
    request = urllib.request.Request(url, data=content, method="POST",
                                     headers={"X-API-Key": INGEST_KEY, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


async def _until(check, timeout: float, what: str, procs: list[Process]) -> None:
    deadline = time.monotonic() + timeout * TIME_UNIT
    last: Any = None
    while time.monotonic() < deadline:
        for p in procs:
            p.alive()
        last = await asyncio.to_thread(check)
        if last is True or last == []:
            return
        await asyncio.sleep(1)
    raise AssertionError(f"timed out waiting for {what}: {last}")


@pytest.fixture
def processes(stack: Settings, tmp_path: Path) -> Iterator[dict[str, Process]]:
    app_id = f"sportsflow-metrics-{uuid.uuid4().hex[:8]}"
    sim = SimulatorSettings(port=free_port(), tick_s=1.0)
    base = {k: v for k, v in os.environ.items() if not k.startswith("SPORTSFLOW_METRICS__")}
    base.update({
        "PYTHONUNBUFFERED": "1", "SPORTSFLOW_METRICS__EMF_ENABLED": "true",
        "SPORTSFLOW_METRICS__EMF_INTERVAL_S": "1", "SPORTSFLOW_BROADCASTER__JWT_SECRET": JWT_SECRET,
        "SPORTSFLOW_API__INGEST_API_KEY": INGEST_KEY, "SPORTSFLOW_SIMULATOR__PORT": str(sim.port),
        "SPORTSFLOW_SIMULATOR__TICK_S": str(sim.tick_s),
    })
    cli = [sys.executable, "-m", "pipeline.cli"]
    procs: dict[str, Process] = {}

    def add(component: str, argv: list[str], env: dict[str, str], **extra: int) -> None:
        port = free_port()
        key = {"simulator": None, "worker": "PORT_WORKER", "connectors": "PORT_CONNECTORS",
               "broadcaster": "PORT_BROADCASTER", "api": "PORT_API", "sink": "PORT_SINK",
               "archive": "PORT_ARCHIVE"}[component]
        if key is not None:
            env = {**env, f"SPORTSFLOW_METRICS__{key}": str(port)}
        procs[component] = Process(component, argv, {**base, **env}, port, tmp_path, extra=extra)

    add("simulator", [*cli, "simulate", "--demo"], {})
    add("connectors", [*cli, "connect", "-p", "theoddsapi"],
        demo_environment(Settings(simulator=sim)))
    add("worker", [sys.executable, "-m", "faust", "-A", "pipeline.app", "worker", "-l", "info", "--without-web"],
        {"SPORTSFLOW_PROCESSING__APP_ID": app_id, "SPORTSFLOW_PROCESSING__AUTO_OFFSET_RESET": "latest",
         "SPORTSFLOW_PROCESSING__WEB_PORT": str(free_port())})
    ws_port, api_port = free_port(), free_port()
    add("broadcaster", [*cli, "broadcast"], {"SPORTSFLOW_BROADCASTER__PORT": str(ws_port),
                                             "SPORTSFLOW_BROADCASTER__REPLAY_S": "0"}, port=ws_port)
    add("api", [*cli, "api"], {"SPORTSFLOW_API__PORT": str(api_port)}, port=api_port)
    # The sink and the archive of this worker's app id, from the tail (not the shared stack's history).
    sinks = {"SPORTSFLOW_PROCESSING__APP_ID": app_id, "SPORTSFLOW_DYNAMODB_SINK__AUTO_OFFSET_RESET": "latest",
             "SPORTSFLOW_ARCHIVE__AUTO_OFFSET_RESET": "latest"}
    add("sink", [*cli, "sink"], sinks)
    add("archive", [*cli, "archive"], sinks)
    try:
        for p in procs.values():
            p.start()
        yield procs
    finally:
        for p in procs.values():
            p.stop()


async def test_every_metric_terraform_names_is_emitted_by_its_owner(processes: dict[str, Process]) -> None:
    refs = sorted(referenced())
    assert refs, "no app metric found in terraform/"
    procs = list(processes.values())
    services = [p for p in procs if p.component != "simulator"]
    broadcaster, api = processes["broadcaster"], processes["api"]
    ws_port, api_port = broadcaster.extra["port"], api.extra["port"]
    await _until(lambda: _http_ok(f"http://127.0.0.1:{ws_port}/health"), 90, "the broadcaster", procs)
    await _until(lambda: _http_ok(f"http://127.0.0.1:{api_port}/health"), 90, "the api", procs)
    await _until(lambda: "Worker]: Ready" in processes["worker"].stderr.read_text(errors="replace")
                 + processes["worker"].stdout.read_text(errors="replace"), 150, "the worker", procs)

    token = issue_token(Settings(broadcaster={"jwt_secret": JWT_SECRET}).broadcaster, "outside-in")
    url = f"ws://127.0.0.1:{ws_port}/ws?token={token}"
    async with connect(url) as staying:
        await staying.send(orjson.dumps({"action": "subscribe", "subscriptions": ["betting_odds"]}).decode())
        await staying.recv()
        dropping = await connect(url)
        await dropping.send(orjson.dumps({"action": "ping"}).decode())
        await dropping.recv()
        dropping.transport.abort()  # gone without a close frame: a drop

        body = {"provider": "theoddsapi", "feed": "odds",
                "payload": orjson.loads(fixture_path("theoddsapi", "odds_soccer_epl_h2h_decimal_2024-08-19.json")
                                        .read_bytes())}
        statuses = [await asyncio.to_thread(_post, f"http://127.0.0.1:{api_port}/ingest", content)
                    for content in (orjson.dumps(body), b"{not json")]
        assert statuses == [202, 400]

        await _until(lambda: missing_emf(services, refs), 180, "EMF documents", procs)
        await _until(lambda: missing_prometheus(services, refs), 30, "Prometheus series", procs)
        assert missing_dashboard_series(services) == []
        # The worker runs stage 2's hot modules compiled (mypyc, built by `make setup`), not their sources.
        native = [value for name, _, value in processes["worker"].scrape() if name == "sportsflow_native_stages"]
        assert native == [len(stages.NATIVE)]
        # The sink and the archive report what they consumed, under their own consumer groups.
        await _until(lambda: consumed_by_sinks(processes), 60, "the sink and the archive to consume", procs)

        # Freshness from the client's side: a live frame carries its stage stamps, in order.
        async with asyncio.timeout(60 * TIME_UNIT):
            while "channel" not in (frame := orjson.loads(await staying.recv())):
                pass
        arrived = time.time() * 1000
        stamps = frame["stages"]
        assert stamps["received"] <= stamps["published"] <= stamps["hub"] <= stamps["sent"] <= arrived + 1
