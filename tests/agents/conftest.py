"""Stage tests share the process's name-resolution state: each starts without pins or a team registry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agents.stages import teams
from agents.stages.names import set_pins


@pytest.fixture(autouse=True)
def _no_registry() -> Iterator[None]:
    yield
    set_pins({})
    teams.reset()
