"""Switching raw topics to the broker's append time never stops a service: a refusal (on MSK, a role
without kafka-cluster:AlterTopicDynamicConfiguration) is a warning naming the topics. The switch itself
against a real broker: tests/integration/test_raw_append_time.py."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pipeline.provision import _append_time_on_raw


@dataclass
class Response:
    body: dict[str, Any]

    def to_object(self) -> dict[str, Any]:
        return self.body


def entry(name: str, value: str, source: int) -> dict[str, Any]:
    return {"config_names": name, "config_value": value, "config_source": source}


class Admin:
    """Describes raw.a (CreateTime, its own retention) and raw.b (refused); refuses the alter of raw.a."""

    def __init__(self) -> None:
        self.altered: list[Any] = []

    async def describe_configs(self, resources: list[Any]) -> list[Response]:
        assert [r.name for r in resources] == ["raw.a", "raw.b"], "only raw topics are looked at"
        return [Response({"resources": [
            {"error_code": 0, "error_message": "", "resource_name": "raw.a", "config_entries": [
                entry("message.timestamp.type", "CreateTime", 5), entry("retention.ms", "42", 1)]},
            {"error_code": 29, "error_message": "Topic authorization failed.", "resource_name": "raw.b",
             "config_entries": []},
        ]})]

    async def alter_configs(self, resources: list[Any]) -> list[Response]:
        self.altered += [(r.name, r.configs) for r in resources]
        return [Response({"resources": [{"error_code": 29, "error_message": "Topic authorization failed.",
                                         "resource_name": "raw.a"}]})]


async def test_a_refused_switch_is_a_warning_naming_the_topics(caplog) -> None:
    admin = Admin()
    with caplog.at_level(logging.WARNING, logger="pipeline.provision"):
        await _append_time_on_raw(admin, ["canonical.events", "raw.a", "raw.b"])  # type: ignore[arg-type]
    assert admin.altered == [("raw.a", {"retention.ms": "42", "message.timestamp.type": "LogAppendTime"})]
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "raw.a (Topic authorization failed.)" in warning
    assert "raw.b (Topic authorization failed.)" in warning
    assert "kafka-cluster:AlterTopicDynamicConfiguration" in warning
