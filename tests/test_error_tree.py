"""One error tree: every exception the project defines derives from `SportsflowError` (schemas/errors.py)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from schemas.errors import SportsflowError

PACKAGES = ("schemas", "connectors", "agents", "pipeline")
# Exceptions that are a framework's response carriers rather than errors of ours, each with why.
OUTSIDE = {
    # FastAPI turns it into the HTTP response; the API maps our errors to it at its boundary.
    "ApiError",
}


def _project_exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for name in PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            module = importlib.import_module(info.name)
            for _, obj in inspect.getmembers(module, inspect.isclass):
                if issubclass(obj, BaseException) and obj.__module__ == info.name:
                    found[f"{info.name}.{obj.__qualname__}"] = obj
    return found


def test_every_project_exception_is_a_sportsflow_error() -> None:
    exceptions = _project_exceptions()
    assert len(exceptions) >= 10
    strays = sorted(n for n, e in exceptions.items() if not issubclass(e, SportsflowError)
                    and n.rsplit(".", 1)[-1] not in OUTSIDE)
    assert strays == []


def test_every_error_says_whether_retrying_helps() -> None:
    """`retriable` is a property of every error, so callers decide on it rather than on type lists."""
    for name, error in _project_exceptions().items():
        if issubclass(error, SportsflowError):
            assert isinstance(error.retriable, bool) or isinstance(error.__dict__.get("retriable"), property), name
