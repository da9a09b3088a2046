"""Render the settings models as the README's Markdown table (`sportsflow settings`)."""

from __future__ import annotations

from pydantic import BaseModel, SecretStr

from runtime.settings import Settings


def _default(value: object) -> str:
    if isinstance(value, SecretStr):
        return "(secret)"
    if value is None or value in ({}, []):
        return ""
    return f"`{value}`"


def _rows(model: type[BaseModel], prefix: str) -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        env = f"{prefix}{name.upper()}"
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.extend(_rows(annotation, env + "__"))
            continue
        if name == "providers":
            rows.append(f"| `{env}__<PROVIDER>__<FIELD>` | | Per provider: enabled, base_url, api_key, client_id, "
                        "client_secret, feeds, poll_live_s, poll_idle_s, timeout_s, plan_requests, params__<name> |")
            continue
        default = field.default if field.default_factory is None else field.default_factory()  # type: ignore[call-arg]
        rows.append(f"| `{env}` | {_default(default)} | {field.description or ''} |")
    return rows


def settings_table() -> str:
    header = ["| variable | default | meaning |", "|---|---|---|"]
    return "\n".join(header + _rows(Settings, "SPORTSFLOW_"))
