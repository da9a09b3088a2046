"""Read terraform/ with python-hcl2 (no terraform binary): blocks, locals, and the few expressions we use."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
MODULES = TERRAFORM / "modules"


def _clean(value: Any) -> Any:
    """Drop python-hcl2 markers and unquote plain string literals (and block labels)."""
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items() if k not in ("__is_block__", "__comments__")}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@cache
def _load_dir(directory: Path) -> dict[str, list[Any]]:
    merged: dict[str, list[Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open() as f:
            for key, blocks in _clean(hcl2.load(f)).items():
                merged.setdefault(key, []).extend(blocks)
    return merged


def tf(module: str | None = None) -> dict[str, list[Any]]:
    return _load_dir(TERRAFORM if module is None else MODULES / module)


def tf_locals(module: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for block in tf(module).get("locals", []):
        out.update(block)
    return out


def blocks(module: str | None, kind: str, type_: str) -> dict[str, Any]:
    """`resource`/`data`/`module`/`variable` blocks of one type, by name."""
    out: dict[str, Any] = {}
    for block in tf(module).get(kind, []):
        if kind in ("module", "variable"):
            out.update({name: body for name, body in block.items() if name == type_})
        elif type_ in block:
            out.update(block[type_])
    return out


def resource(module: str, type_: str, name: str = "this") -> Any:
    return blocks(module, "resource", type_)[name]
