"""CustomerValue figures against hand-computed values."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from clv_stream.domain import predictive as pm
from clv_stream.domain.aggregate import Summary
from clv_stream.domain.model import ScoringModel
from clv_stream.domain.money import money_text
from clv_stream.domain.value import (
    _SMALL_BATCH,
    ValueConfig,
    _distinct_triples,
    _ratio_money,
    churn_band,
    score,
)
from clv_stream.events.models import CustomerValue

DAY = 86400
T0 = 1_704_067_200  # 2024-01-01T00:00:00Z
MODEL = ScoringModel.default()
CFG = ValueConfig(decimals=2, lifespan_years=3.0, horizon_months=12, discount_rate=0.01)
# two orders, $100 on day 0 and $50 on day 10, both at 50 % margin; valued on day 40
TWO_ORDERS = Summary(orders=2, net_minor=15000, profit_minor=7500, first_ts=T0 + 3600,
                     last_ts=T0 + 10 * DAY + 7200, purchase_days=2, first_day_net_minor=10000)


def test_historic_figures_are_exact() -> None:
    v = score([TWO_ORDERS], T0 + 40 * DAY, MODEL, CFG)[0]
    CustomerValue.model_validate(v)
    assert (v["orders"], v["frequency"], v["recency_days"], v["age_days"]) == (2, 1, 10, 40)
    assert v["net_revenue"] == "150.00"
    assert v["average_order_value"] == "75.00"
    assert v["historic_clv"] == "75.00"
    assert v["average_days_between_orders"] == pytest.approx(10.0)
    assert v["first_order_at"] == "2024-01-01T01:00:00Z"
    assert v["last_order_at"] == "2024-01-11T02:00:00Z"


def test_traditional_clv_floors_tenure_at_one_year() -> None:
    young = score([TWO_ORDERS], T0 + 40 * DAY, MODEL, CFG)[0]
    assert Decimal(young["traditional_clv"]) == Decimal("225.00")  # 75 profit x 1/yr x 3 yrs
    old = score([TWO_ORDERS], T0 + 730 * DAY + 12 * 3600, MODEL, CFG)[0]  # 730 days old
    assert Decimal(old["traditional_clv"]) == Decimal("112.58")  # 75 / (730/365.25) x 3


def test_predictive_figures_use_the_model_with_margin() -> None:
    v = score([TWO_ORDERS], T0 + 40 * DAY, MODEL, CFG)[0]
    bg, gg = pm.BgNbdParams.DEFAULT, pm.GammaGammaParams.DEFAULT
    assert (MODEL.purchases, MODEL.spend) == (bg, gg)
    x, t_x, big_t, m = 1.0, 10.0, 40.0, 50.0  # m: the repeat day's spend
    assert v["p_alive"] == pytest.approx(float(pm.p_alive(bg, x, t_x, big_t)), abs=1e-6)
    assert v["expected_orders"] == pytest.approx(
        float(pm.expected_purchases(bg, 360.0, x, t_x, big_t)), abs=1e-6)
    assert Decimal(v["expected_average_order_value"]) == pytest.approx(
        Decimal(f"{float(pm.gg_expected_order_value(gg, x, m)):.2f}"))
    predicted = float(pm.discounted_clv(bg, gg, x, t_x, big_t, m, margin=0.5))
    assert float(v["predicted_clv"]) == pytest.approx(predicted, abs=0.005)
    assert Decimal(v["total_clv"]) == Decimal("75.00") + Decimal(v["predicted_clv"])
    risk = float(pm.prob_no_purchase(bg, 90.0, x, t_x, big_t))
    assert v["churn_risk"] == pytest.approx(risk, abs=1e-6)
    assert v["churn_risk_band"] == churn_band(risk)


def test_a_customer_without_counting_orders_is_worth_nothing_more() -> None:
    v = score([Summary()], T0, MODEL, CFG)[0]
    assert (v["orders"], v["first_order_at"], v["predicted_clv"], v["total_clv"]) == (
        0, None, "0.00", "0.00")
    assert v["churn_risk_band"] == "high"


def test_value_decays_with_time_alone() -> None:
    days = [40, 200, 400, 800]
    values = score([TWO_ORDERS] * 4, [T0 + d * DAY for d in days], MODEL, CFG)
    alive = [v["p_alive"] for v in values]
    assert alive == sorted(alive, reverse=True)
    assert np.all(np.diff([float(v["predicted_clv"]) for v in values]) < 0)


@pytest.mark.parametrize(("risk", "band"), [(0.0, "low"), (0.3299, "low"), (0.33, "medium"),
                                            (0.66, "medium"), (0.6601, "high"), (1.0, "high")])
def test_churn_bands(risk: float, band: str) -> None:
    assert churn_band(risk) == band


@pytest.mark.parametrize(("net_minor", "orders"), [
    (1, 2), (3, 2), (5, 2), (7, 2), (1000, 3), (2000, 3), (1, 8), (3, 8), (12345, 7), (0, 5),
    (99_999_999_999, 4), (25, 2), (35, 2),
])
def test_average_order_value_is_exact_half_even(net_minor: int, orders: int) -> None:
    from decimal import ROUND_HALF_EVEN

    s = Summary(orders=orders, net_minor=net_minor, profit_minor=net_minor, first_ts=T0,
                last_ts=T0, purchase_days=1, first_day_net_minor=net_minor)
    v = score([s], T0 + DAY, MODEL, CFG)[0]
    want = (Decimal(net_minor) / 100 / orders).quantize(Decimal("0.01"), ROUND_HALF_EVEN)
    assert v["average_order_value"] == str(want)


def test_churn_band_agrees_with_the_published_risk() -> None:
    # a band computed from the unrounded risk could disagree with the 6-place figure shown
    customers = [Summary(orders=1 + i % 5, net_minor=1000 * (1 + i % 7), profit_minor=1000,
                         first_ts=T0, last_ts=T0 + (i % 300) * DAY, purchase_days=1 + i % 5,
                         first_day_net_minor=1000) for i in range(2000)]
    for v in score(customers, T0 + 400 * DAY, MODEL, CFG):
        assert v["churn_risk_band"] == churn_band(v["churn_risk"])


_PACKABLE = st.tuples(st.integers(0, 40), st.integers(0, 3000),
                      st.one_of(st.integers(0, 400), st.just(2**21 - 1)))
_UNPACKABLE = st.tuples(st.integers(-3, 40), st.integers(-3, 3000),
                        st.sampled_from([0, 5, 2**21, 2**30]))


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.lists(_PACKABLE, max_size=60),
                 st.lists(st.one_of(_PACKABLE, _UNPACKABLE), max_size=60)))
@example([(1, -3, 5), (0, 2, 1)])
def test_distinct_triples_are_numpys_unique_rows(rows: list[tuple[int, int, int]]) -> None:
    """Scoring computes the BG/NBD terms once per distinct (x, t_x, T); both ways of finding
    them (plain Python for a small batch, a packed int64 key for a larger one, with numpy's
    general path where values do not pack) must give numpy's rows, in its order, and its
    inverse exactly. Each list is checked as it is and repeated past the small-batch size."""
    one = np.array(rows, dtype=np.float64).reshape(-1, 3)
    for cols in (one, np.tile(one, (_SMALL_BATCH // max(len(one), 1) + 1, 1))):
        uniq, inv = _distinct_triples(cols[:, 0], cols[:, 1], cols[:, 2])
        want, want_inv = np.unique(cols, axis=0, return_inverse=True)
        assert np.array_equal(uniq, want)
        assert np.array_equal(inv, want_inv.reshape(-1))
        assert np.array_equal(uniq[inv], cols)


@given(st.integers(-10**15, 10**15), st.integers(0, 3))
def test_money_text_is_decimals(minor: int, decimals: int) -> None:
    assert money_text(minor, decimals) == str(Decimal(minor).scaleb(-decimals))


@given(st.integers(0, 10**12), st.integers(1, 500), st.integers(0, 3))
def test_average_money_rounds_half_even_like_decimal(total: int, count: int, decimals: int) -> None:
    exact = (Decimal(total) / Decimal(count)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    assert _ratio_money(total, count, decimals) == str(exact.scaleb(-decimals))


def test_cohort_is_the_first_order_s_month() -> None:
    late = TWO_ORDERS._replace(first_ts=T0 + 40 * DAY, last_ts=T0 + 40 * DAY)
    values = score([TWO_ORDERS, late, Summary()], T0 + 60 * DAY, MODEL, CFG)
    assert [v["cohort"] for v in values] == ["2024-01", "2024-02", None]


def test_clv_percentile_is_the_share_of_the_fit_s_customers_a_value_reaches() -> None:
    assert score([TWO_ORDERS], T0 + 40 * DAY, MODEL, CFG)[0]["clv_percentile"] is None  # no fit
    quantiles = ScoringModel(MODEL.version, MODEL.purchases, MODEL.spend,
                             clv_quantiles=tuple(float(q) for q in range(10, 1010, 10)))
    rich = Summary(orders=2, net_minor=10**7, profit_minor=10**7, first_ts=T0, last_ts=T0 + DAY,
                   purchase_days=2, first_day_net_minor=10**6)
    values = score([TWO_ORDERS, rich, Summary()], T0 + 40 * DAY, quantiles, CFG)
    total = float(values[0]["total_clv"])
    assert values[0]["clv_percentile"] == int(total // 10)  # cuts at 10, 20, ... 1000
    assert values[1]["clv_percentile"] == 100  # above every fitted customer
    assert values[2]["clv_percentile"] == 0
    for v in values:
        CustomerValue.model_validate(v)
