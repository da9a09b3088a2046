"""Every app metric terraform/ names: alarms, dashboard widgets, autoscaling policies.

Derived by reading terraform/, never hand-kept: the outside-in metrics test checks each against what
the running processes emit. A reference is a metric name in the app's CloudWatch namespace and the
dimensions it is looked up with (value None: any value).

Found in two places:
- every block with `namespace` and `metric_name` (alarms, alarm metric queries, scaling policies)
  whose namespace resolves to the app's;
- every object in a `locals` block with `metric` and `dimensions` (tables that alarms and widgets are
  generated from) of a module whose `local.namespace` is the app's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tests.terraform.hcl import MODULES, blocks, tf, tf_locals

NAMESPACE = "Sportsflow"
_REF = re.compile(r"\$\{([\w.\-]+)\}")


@dataclass(frozen=True, order=True)
class MetricRef:
    metric: str
    dimensions: tuple[tuple[str, str | None], ...]
    where: str

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str | None], ...]]:
        return self.metric, self.dimensions


def modules() -> list[str | None]:
    return [None, *sorted(p.name for p in MODULES.iterdir() if p.is_dir())]


def _module_call(module: str) -> dict[str, Any]:
    for name, body in blocks(None, "module", module).items():
        if name == module:
            return dict(body)
    for block in tf(None).get("module", []):
        for _name, body in block.items():
            if body.get("source") == f"./modules/{module}":
                return dict(body)
    raise KeyError(f"no module call of {module}")


def _variable_default(module: str | None, name: str) -> Any:
    variable = blocks(module, "variable", name).get(name)
    return None if variable is None else variable.get("default")


def _output(module: str, name: str) -> Any:
    for block in tf(module).get("output", []):
        if name in block:
            return block[name]["value"]
    raise KeyError(f"module {module} has no output {name}")


def evaluate(value: Any, module: str | None, each: Any = None) -> Any:
    """A value with `${local.x}`, `${var.x}`, `${module.m.o}` and `${each.value.k}` resolved; None if unknown."""
    if isinstance(value, dict):
        return {k: evaluate(v, module, each) for k, v in value.items()}
    if not isinstance(value, str) or "${" not in value:
        return value
    m = _REF.fullmatch(value)
    if m is None:
        return None  # a computed expression: not a constant
    parts = m.group(1).split(".")
    if parts[0] == "local":
        return evaluate(tf_locals(module).get(parts[1]), module, each)
    if parts[0] == "var":
        if module is not None:
            call = _module_call(module)
            if parts[1] in call:
                return evaluate(call[parts[1]], None)
        return evaluate(_variable_default(module, parts[1]), module)
    if parts[0] == "module" and len(parts) == 3:
        return evaluate(_output(parts[1], parts[2]), parts[1])
    if parts[:2] == ["each", "value"] and each is not None:
        found = each
        for part in parts[2:]:
            found = found.get(part) if isinstance(found, dict) else None
        return evaluate(found, module)
    return None


def _dimensions(value: Any, module: str | None, each: Any) -> tuple[tuple[str, str | None], ...]:
    value = evaluate(value, module, each) if isinstance(value, str) else value
    if value is None:
        return ()
    if isinstance(value, list):  # scaling policies: dimensions { name = ..., value = ... } blocks
        pairs = [(d["name"], evaluate(d.get("value"), module, each)) for d in value]
    else:
        pairs = [(k, evaluate(v, module, each)) for k, v in value.items()]
    return tuple(sorted((str(k), v if isinstance(v, str) else None) for k, v in pairs))


def _walk(node: Any) -> Any:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _from_blocks(module: str | None) -> list[MetricRef]:
    found = []
    for kind in ("resource", "data"):
        for block in tf(module).get(kind, []):
            for type_, named in block.items():
                for name, body in named.items():
                    for_each = evaluate(body.get("for_each"), module) if "for_each" in body else None
                    instances = list(for_each.values()) if isinstance(for_each, dict) else [None]
                    for node in _walk(body):
                        if "metric_name" not in node or "namespace" not in node:
                            continue
                        for each in instances:
                            if evaluate(node["namespace"], module, each) != NAMESPACE:
                                continue
                            metric = evaluate(node["metric_name"], module, each)
                            assert isinstance(metric, str), f"{type_}.{name}: cannot evaluate {node['metric_name']}"
                            dims = _dimensions(node.get("dimensions"), module, each)
                            found.append(MetricRef(metric, dims, f"{module or 'root'}: {type_}.{name}"))
    return found


def _from_locals(module: str | None) -> list[MetricRef]:
    scope = tf_locals(module)
    if evaluate(scope.get("namespace"), module) != NAMESPACE:
        return []
    return [MetricRef(str(node["metric"]), _dimensions(node["dimensions"], module, None), f"{module}: local {name}")
            for name, value in scope.items() for node in _walk(value)
            if isinstance(node.get("metric"), str) and "dimensions" in node]


def app_metric_refs() -> list[MetricRef]:
    """Every reference, sorted; the same metric and dimensions may appear in several places."""
    return sorted(ref for module in modules() for ref in (*_from_blocks(module), *_from_locals(module)))


def referenced() -> dict[tuple[str, tuple[tuple[str, str | None], ...]], list[str]]:
    """(metric, dimensions) -> where terraform names it."""
    out: dict[tuple[str, tuple[tuple[str, str | None], ...]], list[str]] = {}
    for ref in app_metric_refs():
        out.setdefault(ref.key, []).append(ref.where)
    return out
