"""BG/NBD and Gamma-Gamma scoring: equal to lifetimes on CDNOW, to mpmath where lifetimes fails."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from clv_stream.domain.predictive import (
    BgNbdParams,
    GammaGammaParams,
    bgnbd_log_likelihood,
    discounted_clv,
    expected_purchases,
    expected_purchases_new,
    gg_expected_order_value,
    gg_log_likelihood,
    median_days_to_next_purchase,
    p_alive,
    prob_no_purchase,
)
from clv_stream.exceptions import ModelError

WEEKLY = BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)  # published CDNOW, weeks
GG = GammaGammaParams(p=6.25, q=3.74, v=15.44)
DAILY = BgNbdParams.DEFAULT
Arr = NDArray[np.float64]


@pytest.fixture(scope="module")
def cdnow() -> dict[str, Arr]:
    datasets = pytest.importorskip("lifetimes.datasets")
    df = datasets.load_cdnow_summary_data_with_monetary_value()
    cols = {"x": "frequency", "t_x": "recency", "T": "T", "m": "monetary_value"}
    return {k: df[c].to_numpy(dtype=np.float64) for k, c in cols.items()}


@pytest.fixture(scope="module")
def oracle() -> tuple[Any, Any]:
    lifetimes = pytest.importorskip("lifetimes")
    pd = pytest.importorskip("pandas")
    bgf = lifetimes.BetaGeoFitter()
    bgf.params_ = pd.Series({"r": WEEKLY.r, "alpha": WEEKLY.alpha, "a": WEEKLY.a, "b": WEEKLY.b})
    bgf.predict = bgf.conditional_expected_number_of_purchases_up_to_time
    ggf = lifetimes.GammaGammaFitter()
    ggf.params_ = pd.Series({"p": GG.p, "q": GG.q, "v": GG.v})
    return bgf, ggf


def assert_rel(actual: Arr, expected: Any, rtol: float) -> None:
    np.testing.assert_allclose(actual, np.asarray(expected, dtype=np.float64), rtol=rtol, atol=0)


def test_defaults_are_cdnow_on_the_day_scale() -> None:
    daily = BgNbdParams(r=0.243, alpha=4.414 * 7, a=0.793, b=2.426)
    assert daily == BgNbdParams.DEFAULT
    assert GammaGammaParams.DEFAULT == GG


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_params_must_be_positive_and_finite(bad: float) -> None:
    with pytest.raises(ModelError):
        BgNbdParams(r=bad, alpha=1.0, a=1.0, b=1.0)
    with pytest.raises(ModelError):
        GammaGammaParams(p=1.0, q=2.0, v=bad)


def test_log_likelihood_matches_lifetimes_and_paper(cdnow: dict[str, Arr], oracle: Any) -> None:
    bgf, ggf = oracle
    x, t_x, T, m = cdnow["x"], cdnow["t_x"], cdnow["T"], cdnow["m"]
    ll = bgnbd_log_likelihood(WEEKLY, x, t_x, T)
    log_params = np.log([WEEKLY.r, WEEKLY.alpha, WEEKLY.a, WEEKLY.b])
    mean_nll = bgf._negative_log_likelihood(log_params, x, t_x, T, np.ones_like(x), 0.0)
    assert ll.shape == x.shape
    assert ll.sum() == pytest.approx(-mean_nll * x.size, rel=1e-12)
    assert ll.sum() == pytest.approx(-9582.4, abs=0.05)  # Fader, Hardie & Lee (2005a)
    rep = x > 0
    gg_ll = gg_log_likelihood(GG, x, m)
    gg_nll = ggf._negative_log_likelihood(
        np.log([GG.p, GG.q, GG.v]), x[rep], m[rep], np.ones(rep.sum()), 0.0
    )
    assert gg_ll.sum() == pytest.approx(-gg_nll * rep.sum(), rel=1e-12)
    assert np.all(gg_ll[~rep] == 0.0)


def test_scores_match_lifetimes_for_every_cdnow_customer(
    cdnow: dict[str, Arr], oracle: Any
) -> None:
    bgf, ggf = oracle
    x, t_x, T, m = cdnow["x"], cdnow["t_x"], cdnow["T"], cdnow["m"]
    assert_rel(p_alive(WEEKLY, x, t_x, T), bgf.conditional_probability_alive(x, t_x, T), 1e-6)
    for t in (1.0, 4.5, 13.0, 39.0, 52.0, 104.0, 1000.0):
        expected = bgf.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T)
        assert_rel(expected_purchases(WEEKLY, t, x, t_x, T), expected, 1e-6)
    ts = np.array([0.5, 1.0, 10.0, 52.0, 500.0])
    assert_rel(expected_purchases_new(WEEKLY, ts), bgf.expected_number_of_purchases_up_to_time(ts),
               1e-6)
    gg_value = ggf.conditional_expected_average_profit(x, m)
    assert_rel(gg_expected_order_value(GG, x, m), gg_value, 1e-6)
    assert_rel(gg_expected_order_value(GG, 0, 123.0), GG.p * GG.v / (GG.q - 1), 1e-15)


def test_discounted_clv_matches_lifetimes(cdnow: dict[str, Arr], oracle: Any) -> None:
    pd = pytest.importorskip("pandas")
    bgf, ggf = oracle
    x, t_x, T, m = cdnow["x"], cdnow["t_x"], cdnow["T"], cdnow["m"]
    series = [pd.Series(v) for v in (x, t_x, T, m)]
    for months, rate in ((12, 0.01), (3, 0.1)):
        expected = ggf.customer_lifetime_value(bgf, *series, time=months, discount_rate=rate,
                                               freq="D")
        ours = discounted_clv(WEEKLY, GG, x, t_x, T, m, months=months, discount_rate=rate)
        assert_rel(ours, expected.to_numpy(), 1e-6)
    margin = np.linspace(0.1, 0.9, x.size)
    assert_rel(discounted_clv(WEEKLY, GG, x, t_x, T, m, margin=margin),
               discounted_clv(WEEKLY, GG, x, t_x, T, m) * margin, 1e-15)
    assert np.all(discounted_clv(WEEKLY, GG, x, t_x, T, m, months=0) == 0.0)


def test_scalars_and_broadcasting() -> None:
    scalar = p_alive(DAILY, 2, 30.0, 100.0)
    assert scalar.shape == ()
    assert 0 < float(scalar) < 1
    grid = expected_purchases(DAILY, np.array([[30.0], [90.0]]), np.array([0, 1, 5]),
                              np.array([0.0, 10.0, 50.0]), 100.0)
    assert grid.shape == (2, 3)
    assert np.all(grid[1] > grid[0])
    assert discounted_clv(DAILY, GG, 3, 40.0, 100.0, 25.0).shape == ()


def test_a_precomputed_p_alive_gives_the_same_figures(cdnow: dict[str, Arr]) -> None:
    """Scoring computes P(alive) once a batch and passes it on (``alive=``): every figure
    must be the very same float as when each function computes it itself."""
    x, t_x, big_t = cdnow["x"], cdnow["t_x"], cdnow["T"] * 7.0
    alive = p_alive(DAILY, x, t_x, big_t)
    pairs = [
        (expected_purchases(DAILY, 365.0, x, t_x, big_t),
         expected_purchases(DAILY, 365.0, x, t_x, big_t, alive=alive)),
        (prob_no_purchase(DAILY, 90.0, x, t_x, big_t),
         prob_no_purchase(DAILY, 90.0, x, t_x, big_t, alive=alive)),
        (median_days_to_next_purchase(DAILY, x, t_x, big_t),
         median_days_to_next_purchase(DAILY, x, t_x, big_t, alive=alive)),
        (discounted_clv(DAILY, GG, x, t_x, big_t, cdnow["m"]),
         discounted_clv(DAILY, GG, x, t_x, big_t, cdnow["m"], alive=alive)),
    ]
    for own, given_alive in pairs:
        np.testing.assert_array_equal(given_alive, own)


def test_churn_risk_and_median_days_agree(cdnow: dict[str, Arr]) -> None:
    x, t_x, T = cdnow["x"], cdnow["t_x"] * 7, cdnow["T"] * 7  # days, DAILY params
    alive = p_alive(DAILY, x, t_x, T)
    power = ((DAILY.alpha + T) / (DAILY.alpha + T + 90.0)) ** (DAILY.r + x)
    assert_rel(prob_no_purchase(DAILY, 90.0, x, t_x, T), 1 - alive + alive * power, 1e-12)
    median = median_days_to_next_purchase(DAILY, x, t_x, T)
    ok = alive > 0.5
    assert np.all(np.isnan(median[~ok]))
    assert np.all(median[ok] > 0)
    assert_rel(prob_no_purchase(DAILY, median[ok], x[ok], t_x[ok], T[ok]), 0.5, 1e-10)


# --- stability: compare with mpmath where scipy's straightforward formulas overflow ---------

def mp_expected(p: BgNbdParams, t: float, x: float, t_x: float, T: float) -> float:
    """Paper eq. 10 at 60 digits, by its definition; at removable poles (a == 1, or a + b == 1
    with x == 0) a or b is read 1e-30 higher."""
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(60):
        r, al, a, b = (mpmath.mpf(v) for v in (p.r, p.alpha, p.a, p.b))
        a = a + mpmath.mpf("1e-30") if p.a == 1.0 else a
        b = b + mpmath.mpf("1e-30") if p.a + p.b == 1.0 and x == 0 else b
        t_, x_, tx_, T_ = (mpmath.mpf(v) for v in (t, x, t_x, T))
        c = a + b + x_ - 1
        u = (al + T_) / (al + T_ + t_)
        num = c / (a - 1) * (1 - u ** (r + x_) * mpmath.hyp2f1(r + x_, b + x_, c, 1 - u))
        odds = a / (b + x_ - 1) * ((al + T_) / (al + tx_)) ** (r + x_) if x > 0 else 0
        return float(num / (1 + odds))


STRESS = [  # (t, x, t_x, T): large x, large T, z = t/(alpha+T+t) near 1, and ordinary
    (90.0, 2.0, 150.0, 200.0),
    (90.0, 1000.0, 299.0, 300.0),
    (365.0, 5000.0, 999.0, 1000.0),
    (3650.0, 20000.0, 99_990.0, 100_000.0),
    (90.0, 0.0, 0.0, 100_000.0),
    (90.0, 3.0, 10.0, 100_000.0),
    (1e5, 2.0, 1.0, 1.0),  # 1 - z ~ 3e-4
    (1e7, 0.0, 0.0, 0.0),  # 1 - z ~ 3e-6
    (1e7, 3000.0, 0.5, 0.5),
]


@pytest.mark.parametrize(("t", "x", "t_x", "T"), STRESS)
def test_expected_purchases_match_mpmath_in_hard_regions(
    t: float, x: float, t_x: float, T: float
) -> None:
    ours = float(expected_purchases(DAILY, t, x, t_x, T))
    assert np.isfinite(ours)
    assert ours == pytest.approx(mp_expected(DAILY, t, x, t_x, T), rel=1e-8)


@pytest.mark.parametrize(
    "params",
    [
        BgNbdParams(r=0.79, alpha=43.0, a=0.79, b=2.0),  # a - r = 0: scipy 2F1 NaN/inexact
        BgNbdParams(r=0.061, alpha=6.7, a=2.061, b=3.7),  # a - r = 2
        BgNbdParams(r=0.3, alpha=30.0, a=1.3 + 3e-5, b=2.0),  # a - r within 1e-4 of 1
        BgNbdParams(r=0.3, alpha=30.0, a=1.0, b=2.0),  # removable singularity 1/(a-1)
        BgNbdParams(r=0.3, alpha=30.0, a=1.0 - 4e-5, b=2.0),
        BgNbdParams(r=0.3, alpha=30.0, a=0.25, b=0.75),  # x == 0: 2F1(...; a+b-1 = 0; z) pole
        BgNbdParams(r=0.3, alpha=30.0, a=0.2, b=0.3),  # a + b - 1 < 0
    ],
)
def test_expected_purchases_at_degenerate_parameters(params: BgNbdParams) -> None:
    for t, x, t_x, T in [*STRESS, (1e5, 1709.0, 738.0, 1107.0), (4e5, 3.0, 5.0, 11.0)]:
        ours = float(expected_purchases(params, t, x, t_x, T))
        assert ours == pytest.approx(mp_expected(params, t, x, t_x, T), rel=1e-8), (t, x, t_x, T)


def test_other_scores_stay_finite_at_extremes() -> None:
    x = np.array([0.0, 1.0, 1e4, 1e6])
    t_x = np.array([0.0, 1.0, 5e4, 1e5])
    T = np.array([1e5, 1e5, 1e5, 1e5])
    alive = p_alive(DAILY, x, t_x, T)
    assert np.all(np.isfinite(alive))
    assert alive[0] == 1.0
    assert alive[2] < 1e-100
    risk = prob_no_purchase(DAILY, 90.0, x, t_x, T)
    assert np.all((risk >= 0) & (risk <= 1))
    assert np.all(np.isfinite(discounted_clv(DAILY, GG, x, t_x, T, 50.0)))
    assert np.all(np.isfinite(gg_log_likelihood(GG, x, 20.0)))


# --- properties ----------------------------------------------------------------------------

params_st = st.builds(
    BgNbdParams,
    r=st.floats(0.01, 20.0), alpha=st.floats(0.1, 1e4), a=st.floats(0.01, 20.0),
    b=st.floats(0.05, 50.0),
)
history_st = st.tuples(
    st.integers(0, 5000), st.floats(0.0, 1.0), st.floats(0.0, 1e5)
).map(lambda h: (float(h[0]), h[1] * h[2] if h[0] > 0 else 0.0, h[2]))


@settings(max_examples=150, deadline=None)
@given(params=params_st, history=history_st, ts=st.lists(st.floats(0.0, 1e4), min_size=2,
                                                         max_size=6))
@example(params=BgNbdParams(r=5.0, alpha=4.0, a=1.0, b=0.5), history=(1.0, 0.0, 0.0),
         ts=[0.0, 1.1e-11])
def test_probabilities_and_monotonicity(
    params: BgNbdParams, history: tuple[float, float, float], ts: list[float]
) -> None:
    x, t_x, T = history
    t = np.sort(np.array(ts))
    alive = float(p_alive(params, x, t_x, T))
    assert 0.0 <= alive <= 1.0
    expected = expected_purchases(params, t, x, t_x, T)
    assert np.all(np.isfinite(expected))
    assert np.all(expected >= -1e-12)
    assert np.all(np.diff(expected) >= -1e-9 * np.abs(expected[1:]) - 1e-300)
    risk = prob_no_purchase(params, t, x, t_x, T)
    assert np.all((risk >= 0.0) & (risk <= 1.0))
    assert np.all(np.diff(risk) <= 1e-12)
