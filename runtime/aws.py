"""Create the Kafka topics, DynamoDB table and S3 bucket Sportsflow needs (idempotent).

Locally `sportsflow stack up` calls `provision`; on AWS Terraform owns the table and bucket
and the workers create their topics at start-up.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from runtime.settings import Settings
from schemas.errors import SinkWriteError

# The single-table design (README: "DynamoDB table"). Terraform must create the same keys.
TABLE_PARTITION_KEY = "pk"
TABLE_SORT_KEY = "sk"
TABLE_GSI = "gsi1"
TABLE_GSI_DAY = "gsi2"  # every sport's events of one start day, sorted like gsi1 (GET /events without sport)
TABLE_GSI_DAY_PARTITION_KEY = "gsi2pk"
TABLE_GSI_PARTITION_KEY = "gsi1pk"
TABLE_GSI_SORT_KEY = "gsi1sk"
TABLE_TTL_ATTRIBUTE = "expiresAt"


def boto_client(settings: Settings, service: str, *, endpoint_url: str | None = None) -> Any:
    """A boto3 client with bounded retries and timeouts; local endpoints and keys come from settings.

    `endpoint_url` overrides the configured endpoint (DynamoDB and S3 have their own settings).
    """

    aws = settings.aws
    configured = {"dynamodb": aws.endpoint_url_dynamodb, "s3": aws.endpoint_url_s3}.get(service)
    endpoint = endpoint_url or configured
    kwargs: dict[str, Any] = {
        "region_name": aws.region,
        "config": Config(retries={"max_attempts": 5, "mode": "adaptive"}, connect_timeout=3, read_timeout=10),
    }
    if endpoint:
        kwargs["endpoint_url"] = endpoint
    if aws.access_key_id and aws.secret_access_key:
        kwargs["aws_access_key_id"] = aws.access_key_id.get_secret_value()
        kwargs["aws_secret_access_key"] = aws.secret_access_key.get_secret_value()
    return boto3.client(service, **kwargs)  # type: ignore[call-overload]


RETRIABLE_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "InternalServerError", "InternalFailure", "ServiceUnavailable", "TransactionConflictException",
    "LimitExceededException", "SlowDown",
})


def translate_boto_error(service: str, operation: str, exc: Exception) -> SinkWriteError:
    """botocore errors -> `SinkWriteError` with `retriable` set (throttling, 5xx, connection trouble)."""

    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "Unknown"))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return SinkWriteError(service, operation, code, str(err.get("Message", "")),
                              retriable=code in RETRIABLE_CODES or status >= 500)
    if isinstance(exc, BotoCoreError):  # connection refused/reset, timeouts: the service may come back
        return SinkWriteError(service, operation, type(exc).__name__, str(exc), retriable=True)
    raise exc
