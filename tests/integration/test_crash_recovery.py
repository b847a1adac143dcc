"""kill -9 of the worker mid-stream: nothing lost, nothing counted twice, outputs catch up."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from clv_stream.devinfra import EmbeddedBroker, EmbeddedRedis
from clv_stream.domain.aggregate import aggregate_of
from clv_stream.domain.value import iso
from clv_stream.events.validation import OrderValidator
from clv_stream.sources import synthetic_orders
from tests.integration.harness import Harness

pytestmark = pytest.mark.slow


@pytest.fixture
def harness(kafka_broker: EmbeddedBroker, redis_server: EmbeddedRedis) -> Iterator[Harness]:
    with Harness.running(kafka_broker, redis_server, batch_max_records=100) as h:
        yield h


def _events() -> list[dict[str, Any]]:
    events = list(synthetic_orders(400, seed=31))
    for e in events:
        e["customer_id"] = f"crash-{e['customer_id']}"
        e["order_id"] = f"crash-{e['order_id']}"
    return events


async def test_kill_9_mid_stream_loses_nothing_and_counts_nothing_twice(
        harness: Harness, redis_server: EmbeddedRedis) -> None:
    events = _events()
    quarter = len(events) // 4
    high = await harness.produce_events(events[:quarter])
    await harness.wait_applied(high)
    # Redis stops answering, so the next orders are a batch in flight for certain: the worker
    # is killed mid-stream (its last script may still run when Redis resumes: applied, never
    # confirmed, which is the case the restart must get right)
    assert redis_server.pid is not None
    os.kill(redis_server.pid, signal.SIGSTOP)
    try:
        for p, o in (await harness.produce_events(events[quarter:2 * quarter])).items():
            high[p] = max(high.get(p, -1), o)
        assert harness.worker is not None
        assert harness.worker.pid is not None
        os.killpg(harness.worker.pid, signal.SIGKILL)
        harness.worker.stop()
    finally:
        os.kill(redis_server.pid, signal.SIGCONT)
    store = harness.store()
    confirmed = await store.confirmed_offsets(harness.settings.topic_orders)
    await store.close()
    assert any(confirmed.get(p, -1) < o for p, o in high.items()), "not killed mid-stream"
    for p, o in (await harness.produce_events(events[2 * quarter:])).items():
        high[p] = max(high.get(p, -1), o)
    harness.start_worker()
    await harness.wait_confirmed(high, limit_s=120)

    validator = OrderValidator(harness.settings)
    expected = aggregate_of(validator.validate(orjson.dumps(e), time.time()) for e in events)
    state = await harness.summaries(sorted(expected))
    assert {c: s for c, s in state.items() if s.orders} == {
        c: s for c, s in expected.items() if s.orders}

    # no output lost: what Redis records as published for each customer is exactly the last
    # update on the topic (the publication is recorded only after the broker acked it)
    last: dict[str, dict[str, Any]] = {}
    ids_by_transition: dict[tuple[str, str, str], set[str]] = {}
    for u in sorted(await harness.read(harness.settings.topic_updates),
                    key=lambda r: (r["_partition"], r["_offset"])):
        last[u["customer_id"]] = u
        before = u["previous"]["total_clv"] if u["previous"] else ""
        key = (u["customer_id"], before, u["current"]["net_revenue"])
        ids_by_transition.setdefault(key, set()).add(u["event_id"])
    store = harness.store()
    try:
        states = await store.customers([c for c, s in expected.items() if s.orders])
    finally:
        await store.close()
    for st in states:
        assert st.published is not None, st.customer_id
        update = last[st.customer_id]
        assert update["current"]["orders"] == st.published.summary.orders
        assert update["current"]["net_revenue"] == f"{st.published.summary.net_minor / 100:.2f}"
        assert update["as_of"] == iso(st.published.as_of)
    # a transition re-emitted after the crash carries the same event_id
    assert all(len(ids) == 1 for ids in ids_by_transition.values())
