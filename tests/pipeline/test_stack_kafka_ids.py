"""The KRaft cluster id handed to the storage tool never looks like an option."""

from __future__ import annotations

import uuid
from unittest import mock

from pipeline.stack import kafka


def test_a_cluster_id_never_starts_with_a_dash() -> None:
    # 0xf8 as the first byte encodes to "-" in URL-safe base64: the case that failed a run.
    dash_first = uuid.UUID(bytes=b"\xf8" + b"\x00" * 15)
    plain = uuid.UUID(bytes=b"\x01" * 16)
    with mock.patch.object(kafka.uuid, "uuid4", side_effect=[dash_first, plain]):
        cluster_id = kafka.new_cluster_id()
    assert not cluster_id.startswith("-")
    assert len(cluster_id) == 22


def test_ids_are_random_and_well_formed() -> None:
    ids = {kafka.new_cluster_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert not any(i.startswith("-") for i in ids)
