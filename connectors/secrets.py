"""Provider credentials from AWS Secrets Manager, when `settings.aws.secrets_manager_prefix` is set.

Secret `{prefix}/{provider}` holds a JSON object with any of `api_key`, `client_id`, `client_secret`
and the non-secret `amqp_username` (a param); they override what the environment gave. Secret values
land only in `SecretStr` fields (STATSCORE's AMQP password is its `api_key`, see connectors/statscore.py).
Values become `SecretStr` at once; errors name the secret id and the AWS error code, never a value.
Without a prefix nothing is fetched and the settings are returned unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import SecretStr

from runtime.aws import boto_client
from runtime.observability.scrub import register_secrets
from runtime.settings import ProviderSettings, Settings
from schemas.errors import SportsflowError

SECRET_FIELDS = ("api_key", "client_secret")
PLAIN_FIELDS = ("client_id",)
# Not secret, and a plain param elsewhere too: an AMQP login name.
PARAM_FIELDS = ("amqp_username",)


class SecretsError(SportsflowError):
    """A provider's secret cannot be read or is malformed. Carries the secret id, never its value."""

    def __init__(self, secret_id: str, reason: str, *, retriable: bool = False) -> None:
        self.secret_id = secret_id
        self.reason = reason
        self.retriable = retriable
        super().__init__(f"secret {secret_id}: {reason}")


def secrets_client(settings: Settings, endpoint_url: str | None = None) -> Any:

    return boto_client(settings, "secretsmanager", endpoint_url=endpoint_url)


def fetch_secret(client: Any, secret_id: str) -> dict[str, str]:
    """The secret's JSON object; raises SecretsError (without the value) on any failure."""

    try:
        response = client.get_secret_value(SecretId=secret_id)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", "ClientError"))
        retriable = code in {"ThrottlingException", "InternalServiceError", "InternalServiceErrorException"}
        raise SecretsError(secret_id, f"AWS error {code}", retriable=retriable) from None
    except BotoCoreError as exc:
        raise SecretsError(secret_id, f"AWS client error ({type(exc).__name__})", retriable=True) from None
    text = response.get("SecretString")
    if not isinstance(text, str):
        raise SecretsError(secret_id, "no SecretString (binary secrets are not supported)")
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise SecretsError(secret_id, "SecretString is not JSON") from None  # the text is the secret: not shown
    if not isinstance(data, dict):
        raise SecretsError(secret_id, "SecretString is not a JSON object")
    return {str(k): str(v) for k, v in data.items() if v is not None}


def merge(provider: ProviderSettings, secret: dict[str, str]) -> ProviderSettings:
    update: dict[str, Any] = {}
    for name in SECRET_FIELDS:
        if secret.get(name):
            update[name] = SecretStr(secret[name])
    for name in PLAIN_FIELDS:
        if secret.get(name):
            update[name] = secret[name]
    params = {name: secret[name] for name in PARAM_FIELDS if secret.get(name)}
    if params:
        update["params"] = {**provider.params, **params}
    return provider.model_copy(update=update)


def with_provider_secrets(
    settings: Settings, providers: Iterable[str], client: Any | None = None, endpoint_url: str | None = None
) -> Settings:
    """Settings whose named providers carry their Secrets Manager credentials (blocking: call at start-up)."""
    prefix = settings.aws.secrets_manager_prefix
    if not prefix:
        return settings
    client = client or secrets_client(settings, endpoint_url)
    merged = dict(settings.providers)
    for name in providers:
        secret = fetch_secret(client, f"{prefix.rstrip('/')}/{name}")
        # From now on the logs and Sentry filter these values wherever they appear.
        register_secrets(*(secret[field] for field in SECRET_FIELDS if secret.get(field)))
        merged[name] = merge(settings.provider(name), secret)
    return settings.model_copy(update={"providers": merged})
