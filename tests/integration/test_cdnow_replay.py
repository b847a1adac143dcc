"""Replaying the CDNOW master file through the worker gives lifetimes' summary and scores."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pytest

from clv_stream.devinfra import EmbeddedBroker, EmbeddedRedis
from clv_stream.devinfra.stack import settings_env
from clv_stream.domain.predictive import BgNbdParams, GammaGammaParams
from clv_stream.pipeline import CustomerViews
from tests.corpus import order
from tests.integration.harness import Harness

lifetimes = pytest.importorskip("lifetimes")
pd = pytest.importorskip("pandas")
CDNOW = Path(lifetimes.__file__).parent / "datasets" / "CDNOW_master.txt"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def replayed(kafka_broker: EmbeddedBroker, redis_server: EmbeddedRedis) -> Iterator[Harness]:
    h = Harness(kafka_broker, redis_server)
    h.start_worker()
    env = {**os.environ, **settings_env(h.settings)}
    subprocess.run([sys.executable, "-m", "clv_stream.cli.main", "produce", str(CDNOW),
                    "--format", "cdnow"], env=env, check=True, capture_output=True, timeout=300)
    yield h
    h.stop_worker()


def _lifetimes_summary() -> pd.DataFrame:
    tx = pd.read_csv(CDNOW, sep=r"\s+", header=0, names=["customer_id", "date", "cds", "value"],
                     dtype={"customer_id": str, "date": str})
    tx["date"] = pd.to_datetime(tx["date"], format="%Y%m%d")
    return lifetimes.utils.summary_data_from_transaction_data(
        tx, "customer_id", "date", monetary_value_col="value", freq="D")


async def _our_views(h: Harness, ids: list[str]) -> dict[str, dict[str, object]]:
    # everything before a sentinel on each partition has been applied once it is
    sentinels = [(f"sentinel-{p}".encode(), orjson.dumps(order(
        order_id=f"sentinel-{p}", customer_id=f"sentinel-{p}", occurred_at="1997-01-01T00:00:00Z")))
        for p in range(h.settings.topic_partitions)]
    high: dict[int, int] = {}
    for p, message in enumerate(sentinels):
        high.update(await h.produce([message], partition=p))
    await h.wait_applied(high, limit_s=240)
    store = h.store()
    try:
        views, states = {}, {}
        reader = CustomerViews(h.settings, store)
        for i in range(0, len(ids), 2000):
            page = ids[i:i + 2000]
            views.update({v["customer_id"]: v["value"]
                          for v in await reader.customer_views(page)})
            states.update({s.customer_id: s.summary for s in await store.customers(page)})
        return {cid: {**views[cid], "summary": states[cid]} for cid in views}
    finally:
        await store.close()


async def test_cdnow_replay_matches_lifetimes(replayed: Harness) -> None:
    expected = _lifetimes_summary()
    ours = await _our_views(replayed, list(expected.index))
    assert len(ours) == len(expected) == 23570
    got = pd.DataFrame.from_dict(ours, orient="index").loc[expected.index]
    assert (got["frequency"].to_numpy() == expected["frequency"].to_numpy()).all()
    assert (got["recency_days"].to_numpy() == expected["recency"].to_numpy()).all()
    assert (got["age_days"].to_numpy() == expected["T"].to_numpy()).all()
    monetary = np.array([(s.net_minor - s.first_day_net_minor) / 100 / max(s.purchase_days - 1, 1)
                         for s in got["summary"]])
    np.testing.assert_allclose(monetary, expected["monetary_value"].to_numpy(), rtol=1e-9, atol=1e-9)

    bg, gg = BgNbdParams.DEFAULT, GammaGammaParams.DEFAULT
    bgf = lifetimes.BetaGeoFitter()
    bgf.params_ = pd.Series({"r": bg.r, "alpha": bg.alpha, "a": bg.a, "b": bg.b})
    bgf.predict = bgf.conditional_expected_number_of_purchases_up_to_time  # set by fit() otherwise
    f, r, t = expected["frequency"], expected["recency"], expected["T"]
    np.testing.assert_allclose(got["p_alive"].astype(float),
                               bgf.conditional_probability_alive(f, r, t), rtol=0, atol=1e-6)
    np.testing.assert_allclose(
        got["expected_orders"].astype(float),
        bgf.conditional_expected_number_of_purchases_up_to_time(360, f, r, t), rtol=1e-6, atol=1e-6)
    ggf = lifetimes.GammaGammaFitter()
    ggf.params_ = pd.Series({"p": gg.p, "q": gg.q, "v": gg.v})
    clv = ggf.customer_lifetime_value(bgf, f, r, t, expected["monetary_value"], time=12,
                                      discount_rate=0.01, freq="D")
    np.testing.assert_allclose(got["predicted_clv"].astype(float), clv, rtol=0, atol=0.006)
