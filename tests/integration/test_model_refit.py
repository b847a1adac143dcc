"""A fitted model is stored, picked up by the running worker, and re-scores customers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import numpy as np
import pytest

from clv_stream.devinfra import EmbeddedBroker, EmbeddedRedis
from clv_stream.domain.segments import Columns, SegmentSet
from clv_stream.fit import arrays_from_store, fit_model
from clv_stream.sources import synthetic_orders
from tests.integration.harness import Harness


@pytest.fixture(scope="module")
def harness(kafka_broker: EmbeddedBroker, redis_server: EmbeddedRedis) -> Iterator[Harness]:
    with Harness.running(kafka_broker, redis_server, model_poll_interval=0.5) as h:
        yield h


def _health(h: Harness) -> dict[str, object]:
    status, body = h.get("/healthz")
    assert status == 200
    return dict(json.loads(body))


async def test_refit_is_hot_reloaded_and_rescores(harness: Harness) -> None:
    await harness.wait_applied(await harness.produce_events(synthetic_orders(300, seed=21)))
    assert _health(harness)["model_version"] == "default"
    store = harness.store()
    try:
        arrays = await arrays_from_store(store, harness.settings)
        report = fit_model(arrays, harness.settings, version="v-test-1")
        assert report.customers == len(arrays) > 250
        assert report.model.diagnostics["bgnbd"]["converged"]
        await store.save_model(report.model)
    finally:
        await store.close()

    deadline = time.monotonic() + 30
    while _health(harness)["model_version"] != "v-test-1":
        assert time.monotonic() < deadline, "worker did not pick up the new model"
        await asyncio.sleep(0.2)

    refits = []
    deadline = time.monotonic() + 60
    while not refits and time.monotonic() < deadline:
        updates = await harness.read(harness.settings.topic_updates, idle_s=1.0)
        refits = [u for u in updates if u["cause"] == "model_refit"]
    assert refits, "the refit pass emitted no model_refit update"
    for u in refits:
        assert u["model_version"] == "v-test-1"
        assert u["source_event_id"] == "refit:v-test-1"
        assert u["previous"] is not None
        delta = float(u["current"]["total_clv"]) - float(u["previous"]["total_clv"])
        assert abs(delta - float(u["delta_clv"])) < 0.011
    assert len({u["customer_id"] for u in refits}) == len(refits), "one update per customer"
    # a fitted model ranks customers: percentiles of the fit's own customers spread out
    percentiles = [u["current"]["clv_percentile"] for u in refits]
    assert all(0 <= p <= 100 for p in percentiles)
    assert min(percentiles) < 25
    assert max(percentiles) > 75
    assert all(u["previous"]["clv_percentile"] is None for u in refits)  # the default model's
    assert all(u["current"]["cohort"] == u["current"]["first_order_at"][:7] for u in refits)
    # the new model's cut points re-tier customers, and the tier follows the new cuts
    rules = SegmentSet.from_cuts({"value_tier": report.model.tier_cuts or (0.0, 0.0, 0.0)})
    tiers = [s for s in await harness.read(harness.settings.topic_segments)
             if s["cause"] == "model_refit" and s["dimension"] == "value_tier"]
    assert tiers, "new cut points moved nobody between tiers"
    assert all(s["to"] == _tier(rules, float(s["total_clv"])) for s in tiers)


def _tier(rules: SegmentSet, total_clv: float) -> str:
    """The value tier ``rules`` give a customer of ``total_clv`` (with an order)."""
    one = Columns(np.array([1]), np.array([0]), np.array([0]), np.array([total_clv]),
                  np.array([0.0]), np.array([0]))
    return rules.decode(rules.encoded_labels(one, [""])[0])["value_tier"]
