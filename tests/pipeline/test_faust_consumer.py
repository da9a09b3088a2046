"""The worker's Faust consumer (the resolve topic) lets the broker hold a fetch briefly, not Faust's 1.5 s.

Built as the worker builds it: the app from `pipeline.app` (the wiring an operator's `faust -A
pipeline.app worker` imports), its consumer thread, and the aiokafka consumer that thread creates.
Without `shorten_fetch_wait` in the wiring, the consumer waits up to 1,500 ms for a fetch that finds
nothing new, and resolve records reached stage 2 1.5-3 s late at 2,000 updates/s (BENCHMARKS.md).
"""

from __future__ import annotations

import pytest

from pipeline.app import app  # the wiring under test, imported as the worker imports it
from pipeline.faust_config import FETCH_WAIT_MS


@pytest.mark.asyncio
async def test_the_worker_consumer_waits_at_most_the_short_fetch_wait() -> None:
    thread = app.consumer._thread
    consumer = thread._create_worker_consumer(app.transport)
    try:
        assert consumer._fetch_max_wait_ms == FETCH_WAIT_MS <= 50
    finally:
        await consumer._client.close()
