"""A stored model the worker cannot read (a kind it does not know, a broken write) never
stops scoring: reading it raises ``ModelError``, and a batch scored with it falls back to
the built-in model as for a version that is gone."""

from __future__ import annotations

import uuid

import orjson
import pytest

from clv_stream.devinfra import EmbeddedRedis
from clv_stream.domain.model import DEFAULT_VERSION
from clv_stream.exceptions import ModelError
from clv_stream.pipeline import Pipeline, RawRecord, Replay
from clv_stream.settings import Settings
from clv_stream.store.redis_store import RedisStore
from tests.corpus import order

UNKNOWN_KIND = {"version": "v-next", "purchases": {"kind": "pareto_nbd", "params": {"r": 1.0}},
                "spend": {"kind": "gamma_gamma", "params": {"p": 5.1, "q": 3.2, "v": 20.5}}}


async def test_an_unreadable_model_is_refused_on_read_and_scored_around(
        redis_server: EmbeddedRedis) -> None:
    store = RedisStore.from_url(redis_server.url, prefix=f"t{uuid.uuid4().hex[:8]}")
    try:
        await store.client.hset(store.key("models"), mapping={
            "v-next": orjson.dumps(UNKNOWN_KIND), "v-torn": b'{"version": "v-torn", "purch'})
        for version in ("v-next", "v-torn"):
            with pytest.raises(ModelError, match=version):
                await store.model(version)
        raw = RawRecord("orders", 0, 0, b"c-1", orjson.dumps(order(customer_id="c-1")))
        with Pipeline(Settings(), store) as pipeline:
            outcome = await pipeline.process([raw], (0,), home=True,
                                             replay=Replay(1_709_287_200, "v-next"))
    finally:
        await store.close()
    assert outcome.invalid == 0
    [update] = [orjson.loads(r.value) for r in outcome.records if r.topic == "clv.updates"]
    assert update["model_version"] == DEFAULT_VERSION
