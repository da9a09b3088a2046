"""The raw record: what a connector publishes to `raw.<provider>`.

One envelope holds one provider entity (one game, one race, one UOF message) in the provider's
own format, so it can be replayed through a newer normalizer at any time.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from schemas.canonical import UtcDateTime
from schemas.timeutil import iso_z, utc_now

# Request params the pipeline adds so normalizers stay pure functions of the envelope.
RECEIVED_AT_PARAM = "_received_at"


def content_hash(payload: Any) -> str:
    body = payload.encode() if isinstance(payload, str) else orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(body, digest_size=16).hexdigest()


class RawEnvelope(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")

    id: str = Field(default_factory=lambda: uuid.uuid4().hex, description="Record id (idempotency key).")
    provider: str
    feed: str
    key: str = Field(description="The provider's entity id; also the Kafka key.")
    params: dict[str, str] = Field(default_factory=dict, description="The request's params (no credentials).")
    received_at: UtcDateTime = Field(default_factory=utc_now)
    content_type: Literal["json", "xml"] = "json"
    payload: Any
    content_hash: str = ""

    def model_post_init(self, context: Any, /) -> None:
        if not self.content_hash:
            object.__setattr__(self, "content_hash", content_hash(self.payload))

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json", by_alias=True))

    @classmethod
    def from_json(cls, data: bytes | str) -> RawEnvelope:
        return cls.model_validate(orjson.loads(data))

    def normalizer_params(self) -> dict[str, str]:

        return {**self.params, RECEIVED_AT_PARAM: iso_z(self.received_at)}

    @property
    def received_at_ms(self) -> int:
        return int(self.received_at.timestamp() * 1000)

