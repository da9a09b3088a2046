"""Provider credentials from Secrets Manager (the stack's moto server, the DynamoDB-API endpoint)."""

from __future__ import annotations

import json
import uuid

import pytest

from connectors.secrets import SecretsError, secrets_client, with_provider_secrets
from runtime.settings import ProviderSettings, Settings


@pytest.fixture(scope="module")
def client(stack: Settings):
    """The stack's moto server (it answers Secrets Manager too); needing `stack` makes these integration tests."""
    return secrets_client(stack, stack.aws.endpoint_url_dynamodb)


@pytest.fixture
def prefix() -> str:
    return f"sportsflow-test-{uuid.uuid4().hex[:8]}"


def with_prefix(settings: Settings, prefix: str | None, **providers: ProviderSettings) -> Settings:
    return settings.model_copy(update={
        "aws": settings.aws.model_copy(update={"secrets_manager_prefix": prefix}), "providers": providers})


def test_secrets_override_the_environment(settings, client, prefix):
    """Secret values land in SecretStr fields; params and other fields are kept."""
    client.create_secret(Name=f"{prefix}/statscore", SecretString=json.dumps(
        {"client_id": "42", "client_secret": "s3cr3t-value", "api_key": "amqp-pw", "amqp_username": "feed42"}))
    base = with_prefix(settings, prefix, statscore=ProviderSettings(client_id="env", params={"events_x": "1"}))
    merged = with_provider_secrets(base, ["statscore"], client=client).provider("statscore")
    assert merged.client_id == "42"
    assert merged.client_secret is not None
    assert merged.client_secret.get_secret_value() == "s3cr3t-value"
    assert merged.api_key is not None
    assert merged.api_key.get_secret_value() == "amqp-pw"
    assert merged.params == {"events_x": "1", "amqp_username": "feed42"}
    assert "s3cr3t-value" not in repr(merged)
    assert "amqp-pw" not in str(merged)


def test_no_prefix_reads_nothing(settings):
    """Without a prefix the settings come back unchanged (and no AWS call is made)."""
    base = with_prefix(settings, None)
    assert with_provider_secrets(base, ["sportradar"], client=object()) is base


def test_missing_secret_is_an_error_naming_the_id_only(settings, client, prefix):
    """A missing secret raises SecretsError with the id and the AWS code."""
    with pytest.raises(SecretsError) as error:
        with_provider_secrets(with_prefix(settings, prefix), ["sportradar"], client=client)
    assert error.value.secret_id == f"{prefix}/sportradar"
    assert "ResourceNotFoundException" in str(error.value)


def test_malformed_secret_never_echoes_its_text(settings, client, prefix):
    """A SecretString that is not JSON is refused without showing it."""
    client.create_secret(Name=f"{prefix}/sportradar", SecretString="api_key=hunter2-not-json")
    with pytest.raises(SecretsError) as error:
        with_provider_secrets(with_prefix(settings, prefix), ["sportradar"], client=client)
    assert "hunter2" not in str(error.value)
    assert "hunter2" not in repr(error.value)
    assert error.value.__suppress_context__  # the JSON error (which quotes the text) is not chained


def test_keys_read_from_secrets_manager_are_filtered_from_logs(settings, client, prefix):
    """What with_provider_secrets fetched is registered with the process scrubber (logs, Sentry)."""
    from runtime.observability.scrub import FILTERED, scrubber

    value = f"plain-{uuid.uuid4().hex}"  # no key=/token= around it: only the registered literal can catch it
    line = f"provider said {value} twice: {value}"
    assert scrubber().text(line) == line
    client.create_secret(Name=f"{prefix}/theoddsapi", SecretString=json.dumps({"api_key": value}))
    with_provider_secrets(with_prefix(settings, prefix, theoddsapi=ProviderSettings()), ["theoddsapi"], client=client)
    assert scrubber().text(line) == f"provider said {FILTERED} twice: {FILTERED}"
