"""aiokafka client options for the configured security mode (local plaintext, TLS, or MSK IAM)."""

from __future__ import annotations

import ssl
from typing import Any

from pipeline.settings import Settings


class MskIamTokenProvider:
    """SASL/OAUTHBEARER tokens for Amazon MSK IAM auth, signed with the task's AWS credentials."""

    def __init__(self, region: str) -> None:
        self._region = region

    async def token(self) -> str:
        import asyncio

        from aws_msk_iam_sasl_signer import MSKAuthTokenProvider

        token, _expiry_ms = await asyncio.to_thread(MSKAuthTokenProvider.generate_auth_token, self._region)
        return str(token)


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments shared by every aiokafka producer, consumer and admin client."""
    options: dict[str, Any] = {"bootstrap_servers": settings.kafka.bootstrap_servers}
    mode = settings.kafka.security
    if mode == "plaintext":
        return options
    options["ssl_context"] = ssl.create_default_context()
    if mode == "tls":
        options["security_protocol"] = "SSL"
        return options
    from aiokafka.abc import AbstractTokenProvider

    provider = MskIamTokenProvider(settings.aws.region)

    class _Provider(AbstractTokenProvider):  # type: ignore[misc]
        async def token(self) -> str:
            return await provider.token()

    options.update(security_protocol="SASL_SSL", sasl_mechanism="OAUTHBEARER", sasl_oauth_token_provider=_Provider())
    return options
