"""aiokafka options per security mode; the MSK IAM token provider signs through an injected signer."""

from __future__ import annotations

import ssl

import pytest
from aiokafka.abc import AbstractTokenProvider
from aiokafka.conn import OAuthAuthenticator
from faust.auth import OAuthCredentials, SSLCredentials
from faust.types.auth import AuthProtocol

from pipeline.faust_config import credentials
from runtime.kafka import MskIamTokenProvider, client_options
from runtime.settings import AwsSettings, KafkaSettings, Settings

BROKERS = "b-1.msk.example:9098,b-2.msk.example:9098"


class Signer:
    """Stands in for MSKAuthTokenProvider.generate_auth_token: counts calls, returns numbered tokens."""

    def __init__(self, expiry_ms: int = 2_000_000) -> None:
        self.calls: list[str] = []
        self.expiry_ms = expiry_ms

    def __call__(self, region: str) -> tuple[str, int]:
        self.calls.append(region)
        return f"token-{len(self.calls)}", self.expiry_ms


def _settings(security: str) -> Settings:
    return Settings(kafka=KafkaSettings(bootstrap_servers=BROKERS, security=security),  # type: ignore[arg-type]
                    aws=AwsSettings(region="eu-west-1"))


def test_plaintext_options() -> None:
    """Local: only the bootstrap servers."""
    assert client_options(_settings("plaintext")) == {"bootstrap_servers": BROKERS}


def test_tls_options() -> None:
    """TLS: SSL protocol with a verifying default context, no SASL."""
    options = client_options(_settings("tls"))
    assert options["security_protocol"] == "SSL"
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    assert not any(key.startswith("sasl") for key in options)


async def test_iam_options_and_token() -> None:
    """IAM: SASL_SSL + OAUTHBEARER with a provider aiokafka accepts, signing for the configured region."""
    signer = Signer()
    options = client_options(_settings("iam"), signer=signer)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "OAUTHBEARER"
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    provider = options["sasl_oauth_token_provider"]
    assert isinstance(provider, AbstractTokenProvider)
    assert provider.extensions() == {}
    # What aiokafka sends as the SASL client-first message.
    request, expect_reply = await OAuthAuthenticator(sasl_oauth_token_provider=provider).step(b"")
    assert request == b"n,,\x01auth=Bearer token-1\x01\x01"
    assert expect_reply
    assert signer.calls == ["eu-west-1"]


async def test_token_is_reused_until_shortly_before_expiry() -> None:
    """New connections reuse the token; within refresh_margin_s of expiry a new one is signed."""
    now = [1_000.0]
    signer = Signer(expiry_ms=1_900_000)  # expires at t=1900 s
    provider = MskIamTokenProvider("us-east-1", signer=signer, refresh_margin_s=60, clock=lambda: now[0])
    assert [await provider.token(), await provider.token()] == ["token-1", "token-1"]
    now[0] = 1_839.0
    assert await provider.token() == "token-1"
    now[0] = 1_841.0
    assert await provider.token() == "token-2"
    assert signer.calls == ["us-east-1", "us-east-1"]


async def test_slow_signer_times_out() -> None:
    """A signer that hangs (credentials endpoint unreachable) fails within timeout_s."""
    import threading

    release = threading.Event()

    def hanging(_region: str) -> tuple[str, int]:
        release.wait(5)
        return "late", 0

    provider = MskIamTokenProvider("us-east-1", signer=hanging, timeout_s=0.05)
    try:
        with pytest.raises(TimeoutError):
            await provider.token()
    finally:
        release.set()


def test_faust_credentials() -> None:
    """Faust gets no credentials locally, SSL for tls, and OAuth over SASL_SSL with our provider for iam."""
    assert credentials(_settings("plaintext")) is None
    assert isinstance(credentials(_settings("tls")), SSLCredentials)
    iam = credentials(_settings("iam"))
    assert isinstance(iam, OAuthCredentials)
    assert iam.protocol == AuthProtocol.SASL_SSL
    assert isinstance(iam.oauth_cb, MskIamTokenProvider)
