"""``clv-stream tenants``: a platform operator sets and lists tenants' own settings."""

from __future__ import annotations

import asyncio
import json
import uuid

import orjson
import pytest
from typer.testing import CliRunner

from clv_stream.cli.main import app
from clv_stream.devinfra import EmbeddedRedis
from clv_stream.domain.tenant import TenantSettings
from clv_stream.events.records import RawRecord
from clv_stream.pipeline import Pipeline
from clv_stream.settings import Settings
from clv_stream.store.redis_store import RedisStore
from tests.corpus import order


@pytest.fixture
def prefix(redis_server: EmbeddedRedis, monkeypatch: pytest.MonkeyPatch) -> str:
    tag = f"t{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("CLV_REDIS_URL", redis_server.url)
    monkeypatch.setenv("CLV_REDIS_KEY_PREFIX", tag)
    return tag


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_set_keeps_what_it_is_not_told_and_lists_them(
        prefix: str, redis_server: EmbeddedRedis) -> None:
    assert _cli("tenants", "set", "shop-a", "--currency", "eur", "--fx-rate", "USD=0.9",
                "--margin", "0.3", "--value-tier-cuts", "10,20,30")[0] == 0
    assert _cli("tenants", "set", "shop-a", "--model-version", "v7")[0] == 0
    code, out = _cli("tenants", "set", "shop-a", "--value-tier-cuts", "30,20,10")
    assert code == 2
    assert "ascend" in out
    assert _cli("tenants", "set", "sh*p", "--margin", "0.1")[0] == 2

    async def check_and_add_a_customer_of_shop_b() -> TenantSettings:
        store = RedisStore.from_url(redis_server.url, prefix=prefix)
        try:
            with Pipeline(Settings(), store) as pipeline:
                await pipeline.process([RawRecord("orders", 0, 0, None, orjson.dumps(
                    order(tenant_id="shop-b")))])
            return (await store.tenants())["shop-a"]
        finally:
            await store.close()

    assert asyncio.run(check_and_add_a_customer_of_shop_b()) == TenantSettings.model_validate(
        {"currency": "EUR", "fx_rates": {"USD": "0.9"}, "default_margin": "0.3",
         "value_tier_cuts": ["10", "20", "30"], "model_version": "v7"})

    code, out = _cli("tenants", "--json")
    assert code == 0
    listed = json.loads(out)
    assert listed["shop-a"]["customers"] == 0
    assert listed["shop-a"]["settings"]["currency"] == "EUR"
    assert listed["shop-b"] == {"customers": 1, "settings": {}}
    # its stored amounts are in the platform's currency: changing it needs --force
    assert _cli("tenants", "set", "shop-b", "--currency", "USD")[0] == 0  # the same one
    assert _cli("tenants", "set", "shop-b", "--currency", "GBP")[0] == 2
    assert _cli("tenants", "set", "shop-b", "--currency", "GBP", "--force")[0] == 0
