"""Structural checks: what the app expects is what Terraform (and docker-compose) creates.

Parses terraform/ with python-hcl2 (no terraform binary, no AWS) and compares it with the app's
contract in `runtime.settings`, `schemas.topics` and `pipeline/stack/pom.xml`.
checkov is not run here: `scripts/checkov.sh` is its own Makefile step.
"""

from __future__ import annotations

import fnmatch
import re
import typing
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from pydantic import BaseModel

from connectors.registry import all_connectors
from pipeline.commands import PROCESSES
from runtime import aws as resources
from runtime.settings import AwsSettings, Environment, KafkaSettings, Settings
from schemas import topics
from tests.terraform.hcl import blocks, resource, tf_locals

ROOT = Path(__file__).resolve().parents[2]

# TODO(sinks/dynamodb.py): import the key schema from the sink module once it exists,
# instead of spelling it out here.
TABLE_HASH_KEY = "pk"
TABLE_RANGE_KEY = "sk"
GSI1 = {"name": "gsi1", "hash_key": "gsi1pk", "range_key": "gsi1sk"}
GSI2 = {"name": "gsi2", "hash_key": "gsi2pk", "range_key": "gsi1sk"}
TTL_ATTRIBUTE = "expiresAt"

# The registry's providers (connectors/registry.py), not a hand-kept list.
PROVIDERS = sorted(all_connectors())
# Every Sportsflow process but the demo's provider simulator is deployed.
SERVICES = set(PROCESSES) - {"simulator"}
CLI_COMMANDS = {name: PROCESSES[name][0] for name in SERVICES}


# --- HCL helpers ---------------------------------------------------------------------------


def resolve(value: Any, scope: dict[str, Any]) -> list[str]:
    """Evaluate the few expression forms the root module's topic locals use.

    Literal lists, `${local.x}`, `${local.x}-suffix`, `${flatten([local.x, local.y, "literal"])}`,
    `${concat(local.x, local.y)}` and `${[for p in local.x : "prefix${p}suffix"]}`; anything
    else fails, so a new expression form cannot silently cover nothing.
    """
    if isinstance(value, list):
        return [item for v in value for item in resolve(v, scope)]
    if not isinstance(value, str):
        raise TypeError(f"unsupported value {value!r}")
    if m := re.fullmatch(r'\$\{\[for (\w+) in (local\.\w+) : "([\w.-]*)\$\{\1\}([\w.-]*)"\]\}', value):
        return [m.group(3) + item + m.group(4) for item in _resolve_term(m.group(2), scope)]
    if m := re.fullmatch(r"\$\{(?:flatten\(\[(.*)\]\)|concat\((.*)\))\}", value):
        args = m.group(1) if m.group(1) is not None else m.group(2)
        return [item for arg in args.split(",") for item in _resolve_term(arg.strip(), scope)]
    if m := re.fullmatch(r"\$\{(local\.\w+)\}([\w.*-]+)", value):  # "${local.x}-suffix" of a one-value local
        [head] = _resolve_term(m.group(1), scope)
        return [head + m.group(2)]
    if m := re.fullmatch(r"\$\{(local\.\w+)\}", value):
        return _resolve_term(m.group(1), scope)
    if "${" in value:
        raise ValueError(f"unsupported expression {value!r}")
    return [value]


def _resolve_term(term: str, scope: dict[str, Any]) -> list[str]:
    if term.startswith("local."):
        return resolve(scope[term.removeprefix("local.")], scope)
    if term.startswith('"') and term.endswith('"'):
        return [term[1:-1]]
    raise ValueError(f"unsupported term {term!r}")


# --- Settings helpers ----------------------------------------------------------------------


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def settings_field(env_name: str) -> Any:
    """Walk `SPORTSFLOW_A__B__C` through Settings' nested models; KeyError if a part is unknown."""
    assert env_name.startswith("SPORTSFLOW_"), env_name
    parts = env_name.removeprefix("SPORTSFLOW_").lower().split("__")
    model: type[BaseModel] = Settings
    field = None
    i = 0
    while i < len(parts):
        if parts[i] not in model.model_fields:
            raise KeyError(f"{env_name}: {model.__name__} has no field {parts[i]!r}")
        field = model.model_fields[parts[i]]
        i += 1
        if i == len(parts):
            break
        if typing.get_origin(field.annotation) is dict:
            # dict[str, V]: the next part is a key (a provider name, a request param).
            i += 1
            if i == len(parts):
                break
            next_model = _model_of(typing.get_args(field.annotation)[1])
        else:
            next_model = _model_of(field.annotation)
        if next_model is None:
            raise KeyError(f"{env_name}: {parts[i - 1]!r} is not a nested model")
        model = next_model
    return field


def _sportsflow_names(value: Any) -> set[str]:
    """Every SPORTSFLOW_* name used as a key or as a whole string value, anywhere."""
    found: set[str] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and k.startswith("SPORTSFLOW_"):
                found.add(k)
            found |= _sportsflow_names(v)
    elif isinstance(value, list):
        for v in value:
            found |= _sportsflow_names(v)
    elif isinstance(value, str) and re.fullmatch(r"SPORTSFLOW_[A-Z0-9_]+", value):
        found.add(value)
    return found


@pytest.fixture
def default_settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings with defaults only (no SPORTSFLOW_* from the caller's environment)."""
    import os

    for name in list(os.environ):
        if name.startswith("SPORTSFLOW_"):
            monkeypatch.delenv(name)
    return Settings()


# --- storage -------------------------------------------------------------------------------


def test_dynamodb_table_keys_match_the_app() -> None:
    """The table's keys, GSI and TTL attribute are the ones the sink writes."""
    table = resource("storage", "aws_dynamodb_table")
    assert table["billing_mode"] == "PAY_PER_REQUEST"
    assert table["hash_key"] == TABLE_HASH_KEY
    assert table["range_key"] == TABLE_RANGE_KEY
    attributes = {a["name"]: a["type"] for a in table["attribute"]}
    assert attributes == {
        TABLE_HASH_KEY: "S",
        TABLE_RANGE_KEY: "S",
        GSI1["hash_key"]: "S",
        GSI1["range_key"]: "S",
        GSI2["hash_key"]: "S",
    }
    gsi1, gsi2 = table["global_secondary_index"]
    assert {k: gsi1[k] for k in GSI1} == GSI1
    assert {k: gsi2[k] for k in GSI2} == GSI2
    [ttl] = table["ttl"]
    assert ttl["attribute_name"] == TTL_ATTRIBUTE
    assert ttl["enabled"] is True


def test_table_keys_match_local_provisioning() -> None:
    """`sportsflow stack up` creates the same key schema locally as Terraform on AWS."""
    assert resources.TABLE_PARTITION_KEY == TABLE_HASH_KEY
    assert resources.TABLE_SORT_KEY == TABLE_RANGE_KEY
    assert GSI1["name"] == resources.TABLE_GSI
    assert GSI1["hash_key"] == resources.TABLE_GSI_PARTITION_KEY
    assert GSI1["range_key"] == resources.TABLE_GSI_SORT_KEY
    assert GSI2["name"] == resources.TABLE_GSI_DAY
    assert GSI2["hash_key"] == resources.TABLE_GSI_DAY_PARTITION_KEY
    assert resources.TABLE_TTL_ATTRIBUTE == TTL_ATTRIBUTE


def test_ttl_attribute_is_the_one_settings_documents() -> None:
    """AwsSettings.ttl_days names the same TTL attribute as the table."""
    assert f"`{TTL_ATTRIBUTE}`" in (AwsSettings.model_fields["ttl_days"].description or "")


def test_dynamodb_table_is_protected() -> None:
    """PITR, streams with both images, and SSE under the module's KMS key."""
    table = resource("storage", "aws_dynamodb_table")
    assert table["point_in_time_recovery"] == [{"enabled": True}]
    assert table["stream_enabled"] is True
    assert table["stream_view_type"] == "NEW_AND_OLD_IMAGES"
    [sse] = table["server_side_encryption"]
    assert sse["enabled"] is True
    assert sse["kms_key_arn"] == "${module.kms.arn}"


def test_archive_bucket_is_encrypted_versioned_and_tls_only() -> None:
    """SSE-KMS, versioning, IA/Glacier lifecycle, public access block, TLS-only policy."""
    [sse_rule] = resource("storage", "aws_s3_bucket_server_side_encryption_configuration", "archive")["rule"]
    [default] = sse_rule["apply_server_side_encryption_by_default"]
    assert default["sse_algorithm"] == "aws:kms"
    versioning = resource("storage", "aws_s3_bucket_versioning", "archive")
    assert versioning["versioning_configuration"] == [{"status": "Enabled"}]
    [rule] = resource("storage", "aws_s3_bucket_lifecycle_configuration", "archive")["rule"]
    assert [t["storage_class"] for t in rule["transition"]] == ["STANDARD_IA", "GLACIER"]
    block = resource("storage", "aws_s3_bucket_public_access_block", "archive")
    assert all(block[k] is True for k in ("block_public_acls", "block_public_policy", "ignore_public_acls"))
    policy = blocks("storage", "data", "aws_iam_policy_document")["archive"]
    tls = [s for s in policy["statement"] if s["sid"] == "DenyInsecureTransport"]
    assert tls
    assert tls[0]["effect"] == "Deny"
    assert tls[0]["condition"][0]["values"] == ["false"]


# --- kafka ---------------------------------------------------------------------------------


def _pom_kafka_version() -> str:
    tree = ET.parse(ROOT / "pipeline" / "stack" / "pom.xml")
    node = tree.find(".//{*}properties/{*}kafka.version")
    assert node is not None, "pom.xml has no <kafka.version>"
    return (node.text or "").strip()


def test_msk_kafka_version_matches_local_stack() -> None:
    """MSK runs the same Kafka major.minor as the local stack's pom.xml."""
    msk_version = blocks(None, "module", "msk")["msk"]["kafka_version"]
    major_minor = re.match(r"(\d+)\.(\d+)\.", msk_version)
    assert major_minor, msk_version
    assert ".".join(major_minor.groups()) == ".".join(_pom_kafka_version().split(".")[:2])
    cluster = resource("msk", "aws_msk_cluster")
    assert cluster["kafka_version"] == "${var.kafka_version}"
    assert resource("msk", "aws_msk_configuration")["kafka_versions"] == ["${var.kafka_version}"]


def test_msk_uses_iam_auth_and_tls() -> None:
    """IAM (SASL) auth only, TLS client-broker and in-cluster, KMS at rest, broker logs on."""
    cluster = resource("msk", "aws_msk_cluster")
    [auth] = cluster["client_authentication"]
    assert auth["sasl"] == [{"iam": True}]
    assert auth["unauthenticated"] is False
    [enc] = cluster["encryption_info"]
    assert enc["encryption_in_transit"] == [{"client_broker": "TLS", "in_cluster": True}]
    assert enc["encryption_at_rest_kms_key_arn"] == "${module.kms.arn}"
    [logging] = cluster["logging_info"]
    assert logging["broker_logs"][0]["cloudwatch_logs"][0]["enabled"] is True
    assert cluster["enhanced_monitoring"] != "DEFAULT"


def test_topic_locals_match_pipeline_topics() -> None:
    """The root module's topic names are the ones schemas.topics spells out."""
    scope = tf_locals()
    assert sorted(scope["providers"]) == PROVIDERS
    assert sorted(resolve(scope["raw_topics"], scope)) == [topics.raw_topic(p) for p in PROVIDERS]
    assert tuple(scope["canonical_topics"]) == topics.CANONICAL_TOPICS
    assert scope["feed_status_topic"] == topics.FEED_STATUS
    assert scope["deadletter_topic"] == topics.DEADLETTER
    assert scope["unmatched_topic"] == topics.UNMATCHED
    assert scope["discrepancies_topic"] == topics.DISCREPANCIES
    assert scope["reference_topic"] == topics.REFERENCE_TEAMS


def test_iam_topic_grants_cover_pipeline_topics(default_settings: Settings) -> None:
    """Every topic the app uses is granted to a producer and to a consumer."""
    scope = tf_locals()
    access = scope["kafka_access"]
    assert set(access) == SERVICES
    produced = {svc: resolve(a["produce"], scope) for svc, a in access.items()}
    consumed = {svc: resolve(a["consume"], scope) for svc, a in access.items()}

    def covered(topic: str, patterns: list[str]) -> bool:
        return any(fnmatch.fnmatchcase(topic, p) for p in patterns)

    for provider in PROVIDERS:
        raw = topics.raw_topic(provider)
        assert covered(raw, produced["connectors"]), raw
        assert covered(raw, consumed["worker"]), raw
    for canonical in topics.CANONICAL_TOPICS:
        assert covered(canonical, consumed["broadcaster"]), canonical
        assert covered(canonical, produced["worker"]) or canonical == topics.FEED_STATUS, canonical
    assert covered(topics.FEED_STATUS, produced["connectors"])
    assert covered(topics.DEADLETTER, produced["worker"])
    assert covered(topics.UNMATCHED, produced["worker"])
    assert covered(topics.DISCREPANCIES, produced["worker"])
    assert covered(topics.REFERENCE_TEAMS, produced["connectors"])
    assert covered(topics.REFERENCE_TEAMS, consumed["worker"])
    # Faust internal topics and its consumer group are prefixed with the app id.
    app_id = default_settings.processing.app_id
    assert scope["faust_app_id"] == app_id
    assert covered(f"{app_id}-dedupe-changelog", produced["worker"])
    assert covered(f"{app_id}-dedupe-changelog", consumed["worker"])
    assert covered(app_id, resolve(access["worker"]["groups"], scope))
    # Nothing is granted on every topic.
    for patterns in (*produced.values(), *consumed.values()):
        assert "*" not in patterns


def test_iam_module_scopes_kafka_actions_to_derived_arns() -> None:
    """kafka-cluster actions are scoped to topic/group ARNs derived from the cluster ARN."""
    assert blocks(None, "module", "iam")["iam"]["kafka_access"] == "${local.kafka_access}"
    scope = tf_locals("iam")
    assert scope["topic_arn_base"] == '${replace(var.msk_cluster_arn, ":cluster/", ":topic/")}'
    assert scope["group_arn_base"] == '${replace(var.msk_cluster_arn, ":cluster/", ":group/")}'
    task = blocks("iam", "data", "aws_iam_policy_document")["task"]
    contents = {d["statement"]["content"][0]["sid"]: d["statement"]["content"][0] for d in task["dynamic"]}

    def arns(loop_var: str, items: str, base: str) -> str:
        """The for-expression that turns names into ARNs under one ARN base."""
        return "${[for " + loop_var + " in each.value." + items + ' : "${local.' + base + "}/${" + loop_var + '}"]}'

    assert contents["KafkaProduce"]["resources"] == arns("t", "produce", "topic_arn_base")
    assert contents["KafkaConsume"]["resources"] == arns("t", "consume", "topic_arn_base")
    assert contents["KafkaConsumerGroups"]["resources"] == arns("g", "groups", "group_arn_base")
    # Switching a raw topic to the broker's append time (pipeline/provision.py): raw topics it produces only.
    assert contents["KafkaRawTopicTimestamps"]["actions"] == ["kafka-cluster:AlterTopicDynamicConfiguration"]
    assert contents["KafkaRawTopicTimestamps"]["resources"] == (
        '${[for t in each.value.produce : "${local.topic_arn_base}/${t}" if startswith(t, "raw.")]}')
    assert contents["DynamoDB"]["resources"] == ["${var.table_arn}", "${var.table_arn}/index/*"]
    assert contents["S3ArchiveObjects"]["resources"] == ["${var.bucket_arn}/*"]
    assert contents["ProviderSecrets"]["resources"] == "${values(var.provider_secret_arns)}"
    for statement in [*task["statement"], *contents.values()]:
        for action in statement["actions"]:
            assert not action.endswith(":*"), action


def test_provider_secrets_exist_for_every_provider() -> None:
    """One Secrets Manager secret per provider, named under the prefix the app is given."""
    module = blocks(None, "module", "secrets")["secrets"]
    assert module["provider_names"] == "${local.providers}"
    assert module["provider_path"] == "${local.secrets_manager_prefix}"
    secret = resource("secrets", "aws_secretsmanager_secret", "provider")
    assert secret["for_each"] == "${toset(var.provider_names)}"
    assert secret["name"] == "${var.provider_path}${each.key}"
    assert tf_locals()["app_environment"]["SPORTSFLOW_AWS__SECRETS_MANAGER_PREFIX"] == (
        "${local.secrets_manager_prefix}"
    )


# --- ECS -----------------------------------------------------------------------------------


def _task_env_names() -> set[str]:
    names = _sportsflow_names(tf_locals())
    names |= _sportsflow_names(tf_locals("ecs"))
    names |= _sportsflow_names(blocks(None, "module", "ecs"))
    # The secrets map is built with merge(); pick its keys out of the expression text.
    secrets = blocks(None, "module", "ecs")["ecs"]["secrets"]
    names |= set(re.findall(r"\b(SPORTSFLOW_[A-Z0-9_]+)\s*=", secrets))
    return names


REQUIRED_ENV = {
    "SPORTSFLOW_ENVIRONMENT",
    "SPORTSFLOW_KAFKA__BOOTSTRAP_SERVERS",
    "SPORTSFLOW_KAFKA__SECURITY",
    "SPORTSFLOW_AWS__REGION",
    "SPORTSFLOW_AWS__DYNAMODB_TABLE",
    "SPORTSFLOW_AWS__S3_BUCKET",
    "SPORTSFLOW_AWS__ENDPOINT_URL_DYNAMODB",
    "SPORTSFLOW_AWS__ENDPOINT_URL_S3",
    "SPORTSFLOW_AWS__ACCESS_KEY_ID",
    "SPORTSFLOW_AWS__SECRET_ACCESS_KEY",
    "SPORTSFLOW_AWS__SECRETS_MANAGER_PREFIX",
    "SPORTSFLOW_BROADCASTER__HOST",
    "SPORTSFLOW_BROADCASTER__PORT",
    "SPORTSFLOW_API__HOST",
    "SPORTSFLOW_API__PORT",
    "SPORTSFLOW_LOG_LEVEL",
    "SPORTSFLOW_SENTRY_DSN",
    "SPORTSFLOW_BROADCASTER__JWT_SECRET",
}


def test_task_env_vars_are_settings_fields() -> None:
    """Every SPORTSFLOW_* variable in the task definitions is a real Settings field."""
    names = _task_env_names()
    assert names >= REQUIRED_ENV, sorted(REQUIRED_ENV - names)
    for name in sorted(names):
        settings_field(name)


def test_settings_walker_rejects_unknown_names() -> None:
    """The walker used above fails on names Settings would silently ignore."""
    for bad in ("SPORTSFLOW_KAFKA__BOOTSTRAP", "SPORTSFLOW_AWS_REGION", "SPORTSFLOW_LOG_LEVEL__X"):
        with pytest.raises(KeyError):
            settings_field(bad)
    for bad in ("SPORTSFLOW_PROVIDERS__THEODDSAPI__KEY", "SPORTSFLOW_PROVIDERS__THEODDSAPI__PARAMS__A__B"):
        with pytest.raises(KeyError):
            settings_field(bad)
    settings_field("SPORTSFLOW_PROVIDERS__THEODDSAPI__API_KEY")
    settings_field("SPORTSFLOW_PROVIDERS__THEODDSAPI__PARAMS__SPORTS")


def test_task_env_values_select_real_aws() -> None:
    """IAM auth to MSK, real AWS endpoints and the task role instead of static keys."""
    env = tf_locals()["app_environment"]
    assert env["SPORTSFLOW_KAFKA__SECURITY"] == "iam"
    assert "iam" in typing.get_args(KafkaSettings.model_fields["security"].annotation)
    for name in (
        "SPORTSFLOW_AWS__ENDPOINT_URL_DYNAMODB",
        "SPORTSFLOW_AWS__ENDPOINT_URL_S3",
        "SPORTSFLOW_AWS__ACCESS_KEY_ID",
        "SPORTSFLOW_AWS__SECRET_ACCESS_KEY",
    ):
        assert env[name] == "", name
    assert env["SPORTSFLOW_KAFKA__BOOTSTRAP_SERVERS"] == "${module.msk.bootstrap_brokers_sasl_iam}"


def test_container_ports_match_settings(default_settings: Settings) -> None:
    """Container ports, their env vars, the ALB targets and the SG rules follow Settings."""
    containers = tf_locals("ecs")["containers"]
    assert set(containers) == SERVICES
    expected = {
        "broadcaster": default_settings.broadcaster.port,
        "api": default_settings.api.port,
        "worker": default_settings.processing.web_port,
    }
    for service, port in expected.items():
        assert containers[service]["port"] == port, service
    assert containers["connectors"]["port"] is None
    assert containers["broadcaster"]["env"] == {
        "SPORTSFLOW_BROADCASTER__HOST": "0.0.0.0",
        "SPORTSFLOW_BROADCASTER__PORT": str(default_settings.broadcaster.port),
    }
    assert containers["api"]["env"] == {
        "SPORTSFLOW_API__HOST": "0.0.0.0",
        "SPORTSFLOW_API__PORT": str(default_settings.api.port),
    }
    alb = blocks(None, "module", "alb")["alb"]
    assert alb["broadcaster_port"] == default_settings.broadcaster.port
    assert alb["api_port"] == default_settings.api.port
    assert blocks(None, "module", "network")["network"]["container_ports"] == {
        "broadcaster": default_settings.broadcaster.port,
        "api": default_settings.api.port,
    }


def test_services_run_the_cli_commands() -> None:
    """One image, ENTRYPOINT sportsflow, and each service's subcommand."""
    containers = tf_locals("ecs")["containers"]
    for service, command in CLI_COMMANDS.items():
        assert containers[service]["command"] == [command]
    task = resource("ecs", "aws_ecs_task_definition")
    assert 'entryPoint = ["sportsflow"]' in task["container_definitions"]
    assert "image = var.image" in task["container_definitions"]
    assert "readonlyRootFilesystem = true" in task["container_definitions"]


def test_services_deploy_with_zero_downtime() -> None:
    """Rolling deploys keep 100 % healthy, surge to 200 %, and roll back on failure."""
    service = resource("ecs", "aws_ecs_service")
    assert service["deployment_minimum_healthy_percent"] == 100
    assert service["deployment_maximum_percent"] == 200
    assert service["deployment_circuit_breaker"] == [{"enable": True, "rollback": True}]
    [network] = service["network_configuration"]
    assert network["assign_public_ip"] is False


def test_autoscaling_uses_lag_connections_and_cpu() -> None:
    """Worker scales on consumer lag, broadcaster on WebSocketConnections, all on CPU."""
    policies = blocks("ecs", "resource", "aws_appautoscaling_policy")
    assert policies["cpu"]["for_each"] == "${local.containers}"
    assert policies["lag"]["for_each"] == "${var.lag_scaling}"
    lag = policies["lag"]["target_tracking_scaling_policy_configuration"][0]
    lag_metric = lag["customized_metric_specification"][0]["dynamic"][0]["metrics"]["content"][0]
    assert lag_metric["metric_stat"][0]["metric"][0]["metric_name"] == "SumOffsetLag"
    assert lag_metric["metric_stat"][0]["metric"][0]["dimensions"][1]["value"] == "${each.value.group}"
    connections = policies["broadcaster_connections"]["target_tracking_scaling_policy_configuration"][0]
    assert connections["customized_metric_specification"][0]["metric_name"] == "WebSocketConnections"
    assert blocks(None, "module", "ecs")["ecs"]["lag_scaling"] == "${local.lag_scaling}"


def test_lag_scaling_follows_each_consumer_group_and_its_topics(default_settings: Settings) -> None:
    """Worker, sink and archive scale on the lag of the group each really joins, on the topics it reads."""
    from sinks import dynamodb as dynamodb_sink
    from sinks.archive import writer as s3_archive

    scope = tf_locals()
    scaling = scope["lag_scaling"]
    assert set(scaling) == {"worker", "sink", "archive"}
    app_id = default_settings.processing.app_id
    assert app_id == scope["faust_app_id"]
    groups = {name: resolve(entry["group"], scope) for name, entry in scaling.items()}
    # The worker's stage 1 reads the raw topics as its own group (stage 2, Faust, reads the resolve topic).
    assert groups == {"worker": [topics.normalize_group(app_id)], "sink": [f"{app_id}-dynamodb"],
                      "archive": [f"{app_id}-archive"]}
    assert resolve(scaling["sink"]["topics"], scope) == list(dynamodb_sink.TOPICS)
    archive_topics = resolve(scaling["archive"]["topics"], scope)
    assert sorted(archive_topics) == sorted(s3_archive.archive_topics())
    for name, group in groups.items():  # each may join its group
        assert any(fnmatch.fnmatchcase(group[0], p) for p in resolve(scope["kafka_access"][name]["groups"], scope))
    worker = scope["kafka_access"]["worker"]
    for access in ("produce", "consume"):  # stage 1 writes the resolve topic, stage 2 reads it
        assert any(fnmatch.fnmatchcase(topics.resolve_topic(app_id), p) for p in resolve(worker[access], scope))


# --- ALB, monitoring, variables ------------------------------------------------------------


def test_alb_routes_the_original_public_api() -> None:
    """/ws goes to the broadcaster; /events, /ingest and /health go to the api."""
    rules = blocks("alb", "resource", "aws_lb_listener_rule")
    ws_paths = rules["broadcaster"]["condition"][0]["path_pattern"][0]["values"]
    api_paths = rules["api"]["condition"][0]["path_pattern"][0]["values"]
    assert "/ws" in ws_paths
    assert {"/events", "/ingest", "/health"} <= set(api_paths)
    lb = resource("alb", "aws_lb")
    assert lb["drop_invalid_header_fields"] is True
    assert resource("alb", "aws_lb_listener", "https")["protocol"] == "HTTPS"


def test_alarms_match_the_original_engine() -> None:
    """Error rate > 1 %, latency > 100 ms, failed ingestion > 0.01 %, WebSocket drops > 5 %."""
    scope = tf_locals("monitoring")
    assert scope["namespace"] == "Sportsflow"
    alarms = {a["metric"]: a for a in scope["app_alarms"].values()}
    assert alarms["ErrorRate"]["threshold"] == 1
    assert alarms["LatencyMs"]["threshold"] == 100
    assert alarms["LatencyMs"]["dimensions"] == {"Stage": "${var.latency_stage}"}
    assert alarms["FailedIngestionRate"]["threshold"] == 0.01
    assert alarms["WebSocketDropRate"]["threshold"] == 5
    assert "ConsumerLag" in alarms


def test_environment_variable_allows_exactly_dev_staging_prod() -> None:
    """The root `environment` validation allows dev/staging/prod: Settings' values minus local."""
    [validation] = blocks(None, "variable", "environment")["environment"]["validation"]
    m = re.fullmatch(r"\$\{contains\(\[(.*)\], var\.environment\)\}", validation["condition"])
    assert m, validation["condition"]
    allowed = {v.strip().strip('"') for v in m.group(1).split(",")}
    assert allowed == {"dev", "staging", "prod"}
    assert allowed == set(typing.get_args(Environment)) - {"local"}


# --- docker-compose ------------------------------------------------------------------------


def test_compose_env_vars_are_settings_fields(default_settings: Settings) -> None:
    """The compose services configure the app with real Settings fields and its ports."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    names: set[str] = set()
    for service in services.values():
        env = service.get("environment") or {}
        assert isinstance(env, dict)
        names |= {k for k in env if k.startswith("SPORTSFLOW_")}
    assert names
    for name in sorted(names):
        settings_field(name)
    assert services["broadcaster"]["environment"]["SPORTSFLOW_BROADCASTER__PORT"] == str(
        default_settings.broadcaster.port
    )
    assert services["api"]["environment"]["SPORTSFLOW_API__PORT"] == str(default_settings.api.port)
    assert services["kafka"]["image"] == f"apache/kafka:{_pom_kafka_version()}"


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_compose_runs_every_process_with_its_command() -> None:
    """docker-compose.yml runs what `sportsflow run` runs (simulator included), with the same commands."""
    services = _compose()["services"]
    for name, argv in PROCESSES.items():
        assert services[name]["command"] == argv, name


def test_the_demo_environment_is_defined_once() -> None:
    """demo.env is the one demo environment: compose's connectors read it, `sportsflow run` reads it."""
    from connectors.registry import all_connectors
    from pipeline.commands import DEMO_ENV, demo_environment, read_env_file
    from runtime.settings import SimulatorSettings

    services = _compose()["services"]
    assert services["connectors"]["env_file"] == [DEMO_ENV.name]
    assert services["connectors"]["network_mode"] == "service:simulator"
    for name, service in services.items():  # no second copy of provider settings in compose
        assert not [k for k in service.get("environment") or {} if k.startswith("SPORTSFLOW_PROVIDERS__")], name
    env = read_env_file(DEMO_ENV)
    for name in env:
        settings_field(name)
    assert {k.split("__")[1].lower() for k in env} == set(all_connectors())
    moved = demo_environment(Settings(simulator=SimulatorSettings(port=18900)))
    urls = {v for k, v in moved.items() if k.endswith("__BASE_URL")}
    assert urls == {"http://127.0.0.1:18900"}
