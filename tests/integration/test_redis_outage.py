"""A Redis outage stalls the worker (backpressure) without losing or double-counting orders."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from clv_stream.devinfra import EmbeddedBroker, EmbeddedRedis
from clv_stream.domain.aggregate import aggregate_of
from clv_stream.events.validation import OrderValidator
from clv_stream.sources import synthetic_orders
from tests.integration.harness import Harness, until

pytestmark = pytest.mark.slow


@pytest.fixture
def own_redis() -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(appendonly=True)  # data survives stop()/start()
    server.start()
    yield server
    server.close()


def _health(h: Harness) -> tuple[int, dict[str, Any]]:
    status, body = h.get("/healthz")
    return status, json.loads(body)


def _redis_check(h: Harness) -> tuple[int, str, str]:
    """(HTTP status, overall status, the redis check's status) of ``/healthz``."""
    status, body = _health(h)
    return status, body["status"], body["checks"]["redis"]["status"]


async def test_outage_then_recovery(kafka_broker: EmbeddedBroker, own_redis: EmbeddedRedis) -> None:
    h = Harness(kafka_broker, own_redis)
    h.start_worker()
    try:
        events = list(synthetic_orders(200, seed=41))
        half = len(events) // 2
        high = await h.produce_events(events[:half])
        await h.wait_applied(high)
        own_redis.stop()
        for p, o in (await h.produce_events(events[half:])).items():
            high[p] = max(high.get(p, -1), o)
        # the new orders are a batch in flight: its apply fails and the worker retries it
        # with back-off, reporting itself degraded (200: it is waiting correctly)
        until(lambda: _redis_check(h) == (200, "degraded", "degraded"), 30, "degraded health")
        assert h.worker is not None
        assert h.worker.running, "the worker must wait out an outage, not die"
        own_redis.start()
        await h.wait_applied(high, limit_s=60)
        until(lambda: _redis_check(h) == (200, "ok", "ok"), 30, "health back to ok")
        assert h.worker.running
        validator = OrderValidator(h.settings)
        expected = aggregate_of(validator.validate(orjson.dumps(e), time.time()) for e in events)
        state = await h.summaries(sorted(expected))
        assert {c: s for c, s in state.items() if s.orders} == {
            c: s for c, s in expected.items() if s.orders}
    finally:
        h.stop_worker()
