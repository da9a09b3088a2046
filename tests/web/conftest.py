"""A table of the API tests' own: the shared table grows with every run, and the local DynamoDB
server (moto) answers an index query by scanning the whole table, so GET /events would be timed by
other tests' data."""

from __future__ import annotations

import uuid

import pytest

from pipeline.provision import ensure_table
from runtime.aws import boto_client
from runtime.settings import Settings


@pytest.fixture(scope="session")
def api_stack(stack: Settings):
    aws = stack.aws.model_copy(update={"dynamodb_table": f"sftest-api-{uuid.uuid4().hex[:8]}"})
    settings = stack.model_copy(update={"aws": aws})
    ensure_table(settings)
    yield settings
    boto_client(settings, "dynamodb").delete_table(TableName=aws.dynamodb_table)
