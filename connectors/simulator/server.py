"""The simulator's HTTP server (aiohttp): provider routes, fault injection and a control API.

Provider modules in this package expose `register(app, sim)`; they are discovered, so a new
provider adds a file here. Control API (for tests and demos, under `/_sim/`):
`POST /_sim/tick?seconds=3`, `POST /_sim/faults` `{"provider", "kind", "count", "value"}`,
`GET /_sim/state`.
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

import connectors.simulator as package
from connectors.simulator.faults import Fault, FaultPlan
from connectors.simulator.world import World

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SIM_KEY: web.AppKey[Simulator] = web.AppKey("simulator")
_NOT_PROVIDERS = {"faults", "server", "uof", "world"}


@dataclass
class Simulator:
    world: World
    faults: FaultPlan = field(default_factory=FaultPlan)
    requests: dict[str, int] = field(default_factory=dict)
    api_keys: dict[str, str] = field(default_factory=dict)  # provider -> the only key accepted
    # (provider, path and query) -> the last answers served, for the duplicate/out_of_order faults.
    served: dict[tuple[str, str], deque[web.Response]] = field(default_factory=dict)

    def key_for(self, provider: str) -> str:
        return self.api_keys.get(provider, f"sim-{provider}-key")


def provider_modules() -> list[str]:
    return [i.name for i in pkgutil.iter_modules(package.__path__)
            if i.name not in _NOT_PROVIDERS and not i.name.startswith("_")]


def with_faults(provider: str, handler: Handler, *, quota: Handler | None = None) -> Handler:
    """Wrap a provider route so queued faults for that provider apply to it.

    `quota` renders the provider's own "quota used up" answer for the `quota` fault.
    """

    async def wrapped(request: web.Request) -> web.StreamResponse:
        sim = request.app[SIM_KEY]
        sim.requests[provider] = sim.requests.get(provider, 0) + 1
        fault = sim.faults.take(provider)
        history = sim.served.setdefault((provider, str(request.rel_url)), deque(maxlen=4))
        if fault is not None and fault.kind == "quota" and quota is not None:
            return await quota(request)
        if fault is not None and fault.kind in ("duplicate", "out_of_order") and history:
            old = history[-1] if fault.kind == "duplicate" else history[max(0, len(history) - 3)]
            return _copy(old)
        response = await handler(request) if fault is None else await _apply(fault, handler, request)
        if isinstance(response, web.Response) and response.status == 200 and fault is None:
            history.append(_copy(response))
        return response

    return wrapped


def _copy(response: web.Response) -> web.Response:
    """A fresh response with the same status, headers and body (a prepared one cannot be sent twice)."""
    headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")}
    body = response.body if isinstance(response.body, bytes) else b""
    return web.Response(body=body, status=response.status, headers=headers, content_type=response.content_type)


async def _apply(fault: Fault, handler: Handler, request: web.Request) -> web.StreamResponse:  # noqa: PLR0911
    kind = fault.kind
    if kind == "rate_limit":
        return web.json_response({"message": "Too many requests", "error_code": "EXCEEDED_FREQ_LIMIT"},
                                 status=429, headers={"Retry-After": str(int(fault.value or 1))})
    if kind == "server_error":
        return web.json_response({"message": "internal error"}, status=503)
    if kind in ("timeout", "silent"):
        await asyncio.sleep(fault.value or 30.0)
        return web.Response(status=504)
    if kind == "latency":
        await asyncio.sleep(fault.value)
        return await handler(request)
    response = await handler(request)
    if kind == "malformed" and isinstance(response, web.Response):
        return web.Response(body=b'{"this is": not json', status=200, content_type="application/json")
    if kind == "truncate" and isinstance(response, web.Response) and response.body is not None:
        body = bytes(response.body)  # type: ignore[arg-type]
        return web.Response(body=body[: max(1, len(body) // 2)], status=200, content_type="application/json")
    return response


async def _tick(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    changed = sim.world.tick(float(request.query.get("seconds", "3")))
    return web.json_response({"changed": [m.id for m in changed], "now": sim.world.now.isoformat()})


async def _add_fault(request: web.Request) -> web.Response:
    body = await request.json()
    sim = request.app[SIM_KEY]
    sim.faults.add(body["provider"], Fault(body["kind"], float(body.get("value", 0))), int(body.get("count", 1)))
    return web.json_response({"pending": sim.faults.pending(body["provider"])})


async def _state(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    return web.json_response({
        "now": sim.world.now.isoformat(), "requests": sim.requests,
        "matches": [{"id": m.id, "status": m.status, "home": m.home_score, "away": m.away_score,
                     "version": m.version} for m in sim.world.matches.values()],
    })


def build_app(sim: Simulator) -> web.Application:
    app = web.Application()
    app[SIM_KEY] = sim
    app.router.add_post("/_sim/tick", _tick)
    app.router.add_post("/_sim/faults", _add_fault)
    app.router.add_get("/_sim/state", _state)
    for name in provider_modules():
        importlib.import_module(f"{package.__name__}.{name}").register(app, sim)
    return app


async def run_simulator(
    sim: Simulator, host: str, port: int, stop: asyncio.Event, tick_s: float | None = None
) -> None:
    """Serve until `stop`; with `tick_s`, advance the world in real time (demo mode)."""
    runner = web.AppRunner(build_app(sim), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=tick_s or 3600)
            except TimeoutError:
                if tick_s:
                    sim.world.tick(tick_s)
    finally:
        await runner.cleanup()
