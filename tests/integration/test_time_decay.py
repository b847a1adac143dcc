"""Segments that move with event time alone: a customer who stops buying becomes at risk.

The worker re-scores a customer when the stream's event time (the latest ``occurred_at``
applied) passes its next due time, without an order of its own: in the batch of a later
order on the same partition, or, when its partition gets no orders, in its lane's idle look.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from clv_stream.devinfra import EmbeddedBroker, EmbeddedRedis
from clv_stream.domain.aggregate import Summary
from clv_stream.events.validation import Order
from clv_stream.pipeline import Pipeline
from clv_stream.settings import Settings
from clv_stream.store.port import DueLook, Positioned
from clv_stream.store.redis_store import RedisStore
from clv_stream.store.snapshot import Published
from tests.corpus import order
from tests.integration.harness import Harness

#: (partition of the later order, the quiet customer's order, the later order): 150+ days
#: apart; each case later than the last, as the stream's event time only moves forward
CASES = [(0, "2025-01-10T10:00:00+00:00", "2025-06-10T10:00:00+00:00"),
         (1, "2025-07-10T10:00:00+00:00", "2025-12-10T10:00:00+00:00")]


@pytest.fixture(scope="module")
def harness(kafka_broker: EmbeddedBroker, redis_server: EmbeddedRedis) -> Iterator[Harness]:
    with Harness.running(kafka_broker, redis_server, due_poll_interval=0.2) as h:
        yield h


def _keyed(customer: str, order_id: str, at: str) -> tuple[bytes, bytes]:
    return customer.encode(), orjson.dumps(order(customer_id=customer, order_id=order_id,
                                                 occurred_at=at))


async def _lifecycle(h: Harness, customer: str, minimum: int) -> list[dict[str, Any]]:
    events = await h.read(h.settings.topic_segments, minimum=minimum, idle_s=1.5)
    return [e for e in events if e["customer_id"] == customer and e["dimension"] == "lifecycle"]


@pytest.mark.parametrize(("later_partition", "first", "later"), CASES,
                         ids=["same-partition", "other-partition"])
async def test_a_customer_who_stops_buying_becomes_at_risk(
        harness: Harness, later_partition: int, first: str, later: str) -> None:
    """Partition 0 is lane 0's; partition 1 is lane 1's, so lane 0 gets no batch and finds
    the customer due in its idle look."""
    quiet, busy = f"quiet-{later_partition}", f"busy-{later_partition}"
    looks_before = _metric(harness, "clv_time_decay_customers_total")
    await harness.wait_applied(await harness.produce([_keyed(quiet, f"{quiet}-1", first)], partition=0))
    moves = await _lifecycle(harness, quiet, minimum=1)
    assert [(m["from"], m["to"], m["cause"]) for m in moves] == [(None, "new", "order_placed")]

    await harness.wait_applied(
        await harness.produce([_keyed(busy, f"{busy}-1", later)], partition=later_partition))
    moves = await _lifecycle(harness, quiet, minimum=2)
    assert [(m["from"], m["to"], m["cause"]) for m in moves] == [
        (None, "new", "order_placed"), ("new", "at_risk", "time_decay")]
    assert moves[1]["as_of"][:10] == later[:10]
    assert (await harness.summaries([quiet]))[quiet].orders == 1  # nothing applied to it
    assert _metric(harness, "clv_time_decay_customers_total") > looks_before


def _metric(h: Harness, name: str) -> float:
    status, body = h.get("/metrics")
    assert status == 200
    found = re.search(rf"^{name} (\S+)$", body.decode(), re.MULTILINE)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


async def test_due_time_follows_the_customer_to_its_home_partition(
        redis_server: EmbeddedRedis) -> None:
    """A customer first seen only through wrongly keyed records has no home: its due time is
    in the shared index (swept between batches). Its first keyed record moves it, due time
    kept, to the index of that partition, which only that partition's lane sweeps."""
    store = RedisStore.from_url(redis_server.url, prefix=f"t{uuid.uuid4().hex[:8]}")
    try:
        first = Order("e1", "p", "o1", "ann", 2500, 1_736_500_000, 10000)
        applied = await store.apply("orders", [Positioned(3, 0, first)], home=False)
        state = applied.customers[0]
        assert state.home == -1
        snapshot = Published(state.summary, first.ts, "m").encode()
        await store.publish([("ann", snapshot, "new||", 1_744_000_000)])
        assert await store.due(until=1_744_000_000, limit=10) == [("default", "ann")]

        second = Order("e2", "p", "o2", "ann", 1000, 1_736_600_000, 10000)
        applied = await store.apply("orders", [Positioned(3, 1, second)], home=True)
        assert applied.customers[0].home == 3
        assert applied.customers[0].summary.orders == 2
        assert await store.due(until=1_744_000_000, limit=10) == []
        assert await store.due(until=1_743_999_999, limit=10, home=3) == []
        assert await store.due(until=1_744_000_000, limit=10, home=3) == [("default", "ann")]

        # the lane of partition 3 gets it with a batch once event time passes the due time
        later = Order("e3", "p", "o3", "bob", 500, 1_744_000_000, 10000)
        applied = await store.apply("orders", [Positioned(3, 2, later)], home=True,
                                    look=DueLook([3], 10))
        assert [s.customer_id for s in applied.customers] == ["bob"]
        assert [(s.customer_id, s.home) for s in applied.due] == [("ann", 3)]
        assert applied.due[0].summary == Summary(2, 3500, 3500, 1_736_500_000, 1_736_600_000, 2, 2500)
        # another lane's partitions do not see it
        other = await store.apply("orders", [], look=DueLook([0, 1, 2], 10))
        assert other.due == []
    finally:
        await store.close()


async def test_due_entries_under_a_wrong_home_are_handed_over(redis_server: EmbeddedRedis) -> None:
    """An entry found in another index than its customer's home (the home moved while a
    publication was in flight, or the customer has no state any more) is not re-scored by
    the lane that found it: it goes to its home's index, or away."""
    store = RedisStore.from_url(redis_server.url, prefix=f"t{uuid.uuid4().hex[:8]}")
    try:
        placed = Order("e1", "p", "o1", "cat", 2500, 1_736_500_000, 10000)
        await store.apply("orders", [Positioned(3, 0, placed)], home=True)
        client = store.client
        # due before the clock (1_736_500_000, the order's time)
        await client.zadd(store.key("due"), {"cat": 1_736_000_000, "gone": 1_736_000_000})
        await client.zadd(store.key("due", "5"), {"cat": 1_736_100_000})
        looked = await store.apply("orders", [], look=DueLook([-1, 5], 10))
        assert looked.due == []
        assert looked.looked == 3  # three entries met, none re-scored here
        assert await client.zrange(store.key("due"), 0, -1) == []
        assert await client.zrange(store.key("due", "5"), 0, -1) == []
        assert await client.zrange(store.key("due", "3"), 0, -1, withscores=True) == [
            ("cat", 1_736_000_000.0)]  # handed over once, the first due time kept
        # and its own lane gets it
        looked = await store.apply("orders", [], look=DueLook([3], 10))
        assert [(s.customer_id, s.home) for s in looked.due] == [("cat", 3)]
        assert looked.looked == 1
    finally:
        await store.close()


async def test_a_full_look_says_so_even_when_it_re_scores_nobody(
        redis_server: EmbeddedRedis) -> None:
    """An idle lane looks again at once after a full look: the limit counts the entries it
    met (handed over or dropped too), not only the customers it re-scored."""
    store = RedisStore.from_url(redis_server.url, prefix=f"t{uuid.uuid4().hex[:8]}")
    try:
        placed = Order("e1", "p", "o1", "dan", 2500, 1_736_500_000, 10000)
        await store.apply("orders", [Positioned(3, 0, placed)], home=True)
        client = store.client
        await client.zadd(store.key("due", "5"), {f"gone{i}": 1_736_000_000 + i for i in range(4)})
        first = await store.apply("orders", [], look=DueLook([5], 3))
        assert (first.due, first.looked) == ([], 3)  # full: there may be more
        second = await store.apply("orders", [], look=DueLook([5], 3))
        assert (second.due, second.looked) == ([], 1)  # not full: the index is done
        assert await client.zcard(store.key("due", "5")) == 0
    finally:
        await store.close()


async def test_an_idle_look_that_took_its_fill_asks_for_another(
        redis_server: EmbeddedRedis) -> None:
    """An idle lane looks again at once while its looks come back full: a look takes up to
    ``CLV_BATCH_MAX_RECORDS`` due customers (here 3 of 4)."""
    store = RedisStore.from_url(redis_server.url, prefix=f"t{uuid.uuid4().hex[:8]}")
    pipeline = Pipeline(Settings(batch_max_records=3, due_batch_max=1), store)
    try:
        for i in range(4):
            placed = Order(f"e{i}", "p", f"o{i}", f"c{i}", 2500, 1_736_500_000 + i, 10000)
            await store.apply("orders", [Positioned(5, i, placed)], home=True)
        client = store.client
        await client.set(store.key("clock"), 1_800_000_000)
        await client.zadd(store.key("due", "5"), {f"c{i}": 1_736_600_000 + i for i in range(4)})
        first = await pipeline.process([], (5,), home=True)
        assert (first.due, first.full_look) == (3, True)
        await pipeline.confirm(first)
        second = await pipeline.process([], (5,), home=True)
        assert (second.due, second.full_look) == (1, False)
    finally:
        pipeline.close()
        await store.close()
