"""Discovery of connector modules: every module in `connectors/` with a `CONNECTOR` attribute."""

from __future__ import annotations

import importlib
import pkgutil

import connectors
from connectors.base import HttpProvider

_SKIP = {"base", "errors", "policy", "poller", "publisher", "reference", "registry", "runner", "health", "simulator"}


def all_connectors() -> dict[str, HttpProvider]:
    found: dict[str, HttpProvider] = {}
    for info in pkgutil.iter_modules(connectors.__path__):
        if info.name in _SKIP or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"connectors.{info.name}")
        connector = getattr(module, "CONNECTOR", None)
        if isinstance(connector, HttpProvider):
            found[connector.name] = connector
    return found

