"""A trickle of orders is gathered into batches for up to ``CLV_BATCH_MAX_WAIT_MS``, no longer.

Each order below is its own record batch on the broker, as orders from many producers are.
A batch per record batch would cost a Redis round trip, a produce and an offset commit per
order; one batch for the whole trickle would hold early orders back without bound.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from clv_stream.devinfra import EmbeddedBroker, EmbeddedRedis
from tests.corpus import order
from tests.integration.harness import Harness

WINDOW_MS = 300
ORDERS = 40
GAP_S = 0.05  # the trickle lasts ~2 s: ~7 windows


@pytest.fixture(scope="module")
def harness(kafka_broker: EmbeddedBroker, redis_server: EmbeddedRedis) -> Iterator[Harness]:
    with Harness.running(kafka_broker, redis_server, batch_max_wait_ms=WINDOW_MS,
                         consume_lanes=1) as h:
        yield h


def _batches(h: Harness) -> int:
    status, body = h.get("/metrics")
    assert status == 200
    found = re.search(rb"^clv_batches_total (\S+)$", body, re.MULTILINE)
    return int(float(found.group(1))) if found else 0


async def test_a_trickle_is_gathered_into_few_bounded_batches(harness: Harness) -> None:
    h = harness
    producer = AIOKafkaProducer(bootstrap_servers=h.settings.kafka_bootstrap, linger_ms=0)
    await producer.start()
    high: dict[int, int] = {}
    try:
        await h.wait_applied(await h.produce_events([order(customer_id="warm-up")]))
        before = _batches(h)
        started = time.monotonic()
        for i in range(ORDERS):  # one partition, one record batch per order
            meta = await (await producer.send(
                h.settings.topic_orders, orjson.dumps(order(customer_id="trickle",
                                                            order_id=f"o{i}")),
                key=b"trickle"))
            high[meta.partition] = meta.offset
            await asyncio.sleep(GAP_S)
        sent_for = time.monotonic() - started
    finally:
        await producer.stop()
    await h.wait_applied(high)

    batches = _batches(h) - before
    summary = (await h.summaries(["trickle"]))["trickle"]
    assert summary.orders == ORDERS
    windows = sent_for / (WINDOW_MS / 1000)
    # gathered: about one batch per window (a batch per fetch made 15 here, and one per
    # order on Apache Kafka); bounded: no batch gathered much past its window
    assert batches <= windows + 3, f"{batches} batches for {ORDERS} orders in {sent_for:.2f} s"
    assert batches >= windows / 2, f"{batches} batches in {windows:.1f} windows: held back"
