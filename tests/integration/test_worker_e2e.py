"""The worker end to end, on the real broker and redis-server: orders in, state and events out."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from clv_stream.devinfra import EmbeddedBroker, EmbeddedRedis
from clv_stream.domain.aggregate import Summary, aggregate_of
from clv_stream.events.models import ClvUpdate, DeadLetter, SegmentChange
from clv_stream.events.validation import Order, OrderValidator
from clv_stream.sources import synthetic_orders
from tests.corpus import BAD_INPUTS, order
from tests.integration.harness import Harness, wait_until


@pytest.fixture(scope="module")
def harness(kafka_broker: EmbeddedBroker, redis_server: EmbeddedRedis) -> Iterator[Harness]:
    with Harness.running(kafka_broker, redis_server) as h:
        yield h


def _validated(h: Harness, events: list[dict[str, Any]]) -> list[Order]:
    validator = OrderValidator(h.settings)
    return [validator.validate(orjson.dumps(e), time.time()) for e in events]


def _shop(prefix: str, customers: int, seed: int) -> list[dict[str, Any]]:
    events = list(synthetic_orders(customers, seed=seed))
    for e in events:  # customer ids unique to the test
        e["customer_id"] = f"{prefix}{e['customer_id']}"
        e["order_id"] = f"{prefix}{e['order_id']}"
    return events


async def _assert_state_equals_batch(h: Harness, events: list[dict[str, Any]]) -> dict[str, Summary]:
    expected = aggregate_of(_validated(h, events))
    actual = await h.summaries(sorted(expected))
    assert {cid: actual.get(cid, Summary()) for cid in expected} == expected
    return actual


async def test_orders_in_give_the_batch_aggregates(harness: Harness) -> None:
    events = _shop("agg-", customers=80, seed=11)
    await harness.wait_applied(await harness.produce_events(events))
    state = await _assert_state_equals_batch(harness, events)
    assert sum(s.orders for s in state.values()) > 80


async def test_shuffled_and_wrongly_keyed_events_give_the_same_state(harness: Harness) -> None:
    events = _shop("shuf-", customers=40, seed=12)
    rnd = random.Random(3)
    rnd.shuffle(events)
    keys = [None, b"", b"someone-else", b"\xff\xfe"]
    high = await harness.produce(
        (rnd.choice(keys) if i % 2 else e["customer_id"].encode(), orjson.dumps(e))
        for i, e in enumerate(events)
    )
    await harness.wait_applied(high)
    await _assert_state_equals_batch(harness, events)


async def test_duplicate_event_ids_change_nothing(harness: Harness) -> None:
    events = _shop("dup-", customers=30, seed=13)
    await harness.wait_confirmed(await harness.produce_events(events))  # outputs all acked
    before = await _assert_state_equals_batch(harness, events)
    updates_before = await _order_updates(harness)
    assert updates_before
    await harness.wait_confirmed(await harness.produce_events(events))  # the same events again
    assert await harness.summaries(sorted(before)) == before
    # time-driven updates (cause time_decay) may come meanwhile; none may be caused by orders
    assert await _order_updates(harness) == updates_before, "duplicates must not emit updates"


async def _order_updates(harness: Harness) -> list[str]:
    updates = await harness.read(harness.settings.topic_updates, idle_s=0.5)
    return sorted(u["event_id"] for u in updates if u["cause"] != "time_decay")


async def test_bad_inputs_are_dead_lettered_and_good_ones_processed(harness: Harness) -> None:
    good = [order(order_id=f"bad-ok-{i}", customer_id=f"bad-ok-c{i}",
                  occurred_at="2024-05-01T00:00:00Z") for i in range(len(BAD_INPUTS))]
    messages: list[tuple[bytes | None, bytes]] = []
    for (_, raw, _), ok in zip(BAD_INPUTS, good, strict=True):
        messages += [(b"k", raw), (ok["customer_id"].encode(), orjson.dumps(ok))]
    await harness.produce(messages, partition=0)
    letters = await harness.read(harness.settings.topic_deadletter, minimum=len(BAD_INPUTS))
    ours = sorted((r for r in letters if r["partition"] == 0), key=lambda r: r["offset"])
    assert [r["error"]["code"] for r in ours][-len(BAD_INPUTS):] == [c for _, _, c in BAD_INPUTS]
    for record in ours:
        DeadLetter.model_validate({k: v for k, v in record.items() if not k.startswith("_")})
    big = next(r for r in ours if r["error"]["code"] == "too_large")
    assert big["raw_truncated"]
    assert len(big["raw"]) == 64 * 1024
    state = await harness.summaries([e["customer_id"] for e in good])
    assert len(state) == len(good)
    assert all(s.orders == 1 for s in state.values())
    assert harness.worker is not None
    assert harness.worker.running


async def test_output_events_follow_the_contract(harness: Harness) -> None:
    events = _shop("out-", customers=25, seed=14)
    await harness.wait_applied(await harness.produce_events(events))
    updates = [u for u in await harness.read(harness.settings.topic_updates)
               if u["customer_id"].startswith("out-")]
    segments = [s for s in await harness.read(harness.settings.topic_segments)
                if s["customer_id"].startswith("out-")]
    for u in updates:
        ClvUpdate.model_validate({k: v for k, v in u.items() if not k.startswith("_")})
    chains: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for s in sorted(segments, key=lambda r: (r["_partition"], r["_offset"])):
        SegmentChange.model_validate({k: v for k, v in s.items() if not k.startswith("_")})
        chains.setdefault((s["customer_id"], s["dimension"]), []).append(s)
    for chain in chains.values():  # exactly one event per change: each starts where the last ended
        assert chain[0]["from"] is None
        assert all(a["to"] == b["from"] != b["to"] for a, b in itertools.pairwise(chain))
    assert {u["customer_id"] for u in updates} == {
        cid for cid, s in aggregate_of(_validated(harness, events)).items() if s.orders > 0}


async def test_a_group_behind_redis_catches_up_without_new_records(harness: Harness) -> None:
    """A worker killed between confirming a batch and committing it leaves the group's offset
    behind Redis'; its successor resumes from Redis and commits that position at once, so
    lag monitors see the partition caught up though nothing new arrives on it."""
    events = _shop("behind-", customers=20, seed=16)
    high = await harness.produce_events(events)
    await harness.wait_confirmed(high)
    n_updates = len(await _order_updates(harness))
    harness.stop_worker()
    # a new group has committed nothing: the farthest a group's offset can lag Redis'
    harness.start_worker(consumer_group=harness.settings.consumer_group + "-behind")

    async def caught_up() -> bool:
        committed = await harness.committed()
        return all(committed.get(p, 0) > o for p, o in high.items())

    assert await wait_until(caught_up, 60, interval_s=0.2), (await harness.committed(), high)
    assert len(await _order_updates(harness)) == n_updates, "nothing was read again"


async def test_replay_from_earlier_offsets_changes_nothing(harness: Harness) -> None:
    events = _shop("replay-", customers=30, seed=15)
    await harness.wait_confirmed(await harness.produce_events(events))
    before = await _assert_state_equals_batch(harness, events)
    n_updates = len(await _order_updates(harness))
    harness.stop_worker()
    # Redis forgets which outputs were confirmed, and a new consumer group has no committed
    # offsets: the worker reads every partition from the earliest offset again
    store = harness.store()
    part = store.key("{0}", "part", harness.settings.topic_orders)
    confirmed = [f for f in await store.client.hkeys(part) if f.startswith("c:")]
    assert confirmed
    await store.client.hdel(part, *confirmed)
    await store.close()
    harness.start_worker(consumer_group=harness.settings.consumer_group + "-replay")
    # a sentinel behind the replayed records on every partition: once each is applied, every
    # record before it on its partition was read again
    sentinels = [(f"replay-sentinel-{p}".encode(),
                  orjson.dumps(order(order_id=f"replay-s{p}", customer_id=f"replay-sentinel-{p}")))
                 for p in range(harness.settings.topic_partitions)]
    high: dict[int, int] = {}
    for p, message in enumerate(sentinels):
        high.update(await harness.produce([message], partition=p))
    await harness.wait_confirmed(high, limit_s=90)
    assert await harness.summaries(sorted(before)) == before
    assert len(await _order_updates(harness)) == n_updates + len(sentinels), (
        "only the sentinels' updates are new")
