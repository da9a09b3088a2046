"""Wait until services answer before telling a user where they are.

`sportsflow run` prints a URL only once the service behind it answers (a health endpoint, or any
HTTP answer), so a client that connects the moment it reads the URL is served. While a service is
slow to come up the user is told which one, instead of a silence or a `Connection refused`.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from schemas.errors import SportsflowError


class NotReadyError(SportsflowError):
    """A service did not answer within the start-up budget, or its process exited first."""


@dataclass(frozen=True)
class Probe:
    """One service to wait for: `ready()` is True once it answers; `alive()` False once its process died."""

    name: str
    ready: Callable[[], bool]
    alive: Callable[[], bool] = lambda: True


def http_answers(url: str, *, ok_only: bool = False, timeout_s: float = 1.0) -> Callable[[], bool]:
    """A probe: the URL answers HTTP (any status, or only < 400 when `ok_only`)."""

    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - URL built by the caller
                return bool(response.status < 400)
        except urllib.error.HTTPError:
            return not ok_only  # an error status is still an answer (the API says 503 while degraded)
        except (urllib.error.URLError, OSError):
            return False

    return probe


def wait_until_ready(
    probes: list[Probe],
    on_ready: Callable[[str], None],
    echo: Callable[[str], None],
    *,
    timeout_s: float = 120.0,
    patience_s: float = 3.0,
    interval_s: float = 0.1,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Call `on_ready(name)` for each probe as soon as it answers, in the order they become ready.

    After `patience_s` without every service ready, and every `patience_s` after that, `echo` says
    which ones are still starting. Raises `NotReadyError` when a process dies or `timeout_s` passes.
    """
    start = clock()
    pending: dict[str, Probe] = {p.name: p for p in probes}
    next_notice = start + patience_s
    while pending:
        for name, probe in list(pending.items()):
            if probe.ready():
                del pending[name]
                on_ready(name)
            elif not probe.alive():
                raise NotReadyError(f"{name} exited before it answered")
        if not pending:
            return
        now = clock()
        if now - start > timeout_s:
            raise NotReadyError(f"still not answering after {timeout_s:.0f}s: {', '.join(pending)}")
        if now >= next_notice:
            echo(f"still starting ({now - start:.0f}s): {', '.join(pending)}")
            next_notice = now + patience_s
        sleep(interval_s)
