"""Maximum-likelihood fits: CDNOW's published parameters, lifetimes' MLE, recovery, errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from numpy.typing import NDArray

from clv_stream.domain.fitting import (
    FitResult,
    fit_bgnbd,
    fit_gamma_gamma,
    value_tier_cuts,
)
from clv_stream.domain.predictive import (
    BgNbdParams,
    GammaGammaParams,
    bgnbd_log_likelihood,
    gg_log_likelihood,
)
from clv_stream.exceptions import ModelError

Arr = NDArray[np.float64]
PUBLISHED_BG = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}  # weeks
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "v": 15.44}


@pytest.fixture(scope="module")
def cdnow() -> dict[str, Arr]:
    datasets = pytest.importorskip("lifetimes.datasets")
    df = datasets.load_cdnow_summary_data_with_monetary_value()
    cols = {"x": "frequency", "t_x": "recency", "T": "T", "m": "monetary_value"}
    return {k: df[c].to_numpy(dtype=np.float64) for k, c in cols.items()}


def simulate(n: int, bg: BgNbdParams, gg: GammaGammaParams, seed: int) -> dict[str, Arr]:
    """Customers drawn from BG/NBD + Gamma-Gamma, ages 1..365 days, recency in whole days."""
    rng = np.random.default_rng(seed)
    T = rng.integers(1, 366, n).astype(np.float64)
    lam = rng.gamma(bg.r, 1.0 / bg.alpha, n)
    drop = rng.beta(bg.a, bg.b, n)
    events = rng.poisson(lam * T).astype(np.float64)  # purchases in (0, T] had they lived
    x = np.minimum(events, rng.geometric(drop))  # they die after a Geometric(p)-th purchase
    rep = x > 0
    t_x = np.zeros(n)  # the x-th of `events` uniform times on (0, T]
    t_x[rep] = np.floor(T[rep] * rng.beta(x[rep], events[rep] - x[rep] + 1.0))
    nu = rng.gamma(gg.q, 1.0 / gg.v, n)
    m = np.where(rep, rng.gamma(gg.p * np.maximum(x, 1.0), 1.0 / nu) / np.maximum(x, 1.0), 0.0)
    return {"x": x, "t_x": t_x, "T": T, "m": m}


def test_bgnbd_on_cdnow_matches_published_and_lifetimes(cdnow: dict[str, Arr]) -> None:
    lifetimes = pytest.importorskip("lifetimes")
    x, t_x, T = cdnow["x"], cdnow["t_x"], cdnow["T"]
    fit = fit_bgnbd(x, t_x, T)
    theirs = lifetimes.BetaGeoFitter().fit(x, t_x, T).params_
    ours = dataclasses.asdict(fit.params)
    for name, published in PUBLISHED_BG.items():
        assert ours[name] == pytest.approx(published, rel=0.01)
        assert ours[name] == pytest.approx(theirs[name], rel=1e-4)
    assert fit.converged
    assert fit.n_customers == x.size == 2357
    assert fit.iterations > 0
    assert fit.seconds >= 0
    assert fit.log_likelihood == pytest.approx(-9582.4, abs=0.05)
    assert fit.log_likelihood == pytest.approx(bgnbd_log_likelihood(fit.params, x, t_x, T).sum())


def test_gamma_gamma_on_cdnow_matches_published_and_lifetimes(cdnow: dict[str, Arr]) -> None:
    lifetimes = pytest.importorskip("lifetimes")
    x, m = cdnow["x"], cdnow["m"]
    fit = fit_gamma_gamma(x, m)
    rep = x > 0
    theirs = lifetimes.GammaGammaFitter().fit(x[rep], m[rep]).params_
    ours = dataclasses.asdict(fit.params)
    for name, published in PUBLISHED_GG.items():
        assert ours[name] == pytest.approx(published, rel=0.01)
        assert ours[name] == pytest.approx(theirs[name], rel=1e-4)
    assert fit.converged
    assert fit.n_customers == int(rep.sum()) == 946
    assert fit.log_likelihood == pytest.approx(gg_log_likelihood(fit.params, x, m).sum())


def test_time_unit_only_rescales_alpha(cdnow: dict[str, Arr]) -> None:
    weekly = fit_bgnbd(cdnow["x"], cdnow["t_x"], cdnow["T"]).params
    daily = fit_bgnbd(cdnow["x"], cdnow["t_x"] * 7, cdnow["T"] * 7).params
    assert daily.alpha == pytest.approx(weekly.alpha * 7, rel=1e-5)
    for name in ("r", "a", "b"):
        assert getattr(daily, name) == pytest.approx(getattr(weekly, name), rel=1e-5)


def test_fit_ignores_order_and_duplication(cdnow: dict[str, Arr]) -> None:
    x, t_x, T, m = cdnow["x"], cdnow["t_x"], cdnow["T"], cdnow["m"]
    order = np.random.default_rng(7).permutation(x.size)
    base, shuffled = fit_bgnbd(x, t_x, T), fit_bgnbd(x[order], t_x[order], T[order])
    doubled = fit_bgnbd(np.tile(x, 2), np.tile(t_x, 2), np.tile(T, 2))
    for other in (shuffled, doubled):
        np.testing.assert_allclose(dataclasses.astuple(other.params),
                                   dataclasses.astuple(base.params), rtol=1e-5)
    assert doubled.log_likelihood == pytest.approx(2 * base.log_likelihood, rel=1e-8)
    gg, gg2 = fit_gamma_gamma(x, m), fit_gamma_gamma(np.tile(x, 2), np.tile(m, 2))
    np.testing.assert_allclose(dataclasses.astuple(gg2.params), dataclasses.astuple(gg.params),
                               rtol=1e-5)


def test_recovers_simulated_parameters() -> None:
    bg = BgNbdParams(r=0.8, alpha=40.0, a=0.6, b=3.0)
    gg = GammaGammaParams(p=4.0, q=5.0, v=60.0)
    data = simulate(60_000, bg, gg, seed=11)
    fit = fit_bgnbd(data["x"], data["t_x"], data["T"])
    assert fit.converged
    np.testing.assert_allclose(dataclasses.astuple(fit.params), dataclasses.astuple(bg), rtol=0.05)
    start = BgNbdParams(r=2.0, alpha=5.0, a=3.0, b=0.5)
    refit = fit_bgnbd(data["x"], data["t_x"], data["T"], initial=start)
    np.testing.assert_allclose(dataclasses.astuple(refit.params),
                               dataclasses.astuple(fit.params), rtol=1e-4)
    gg_fit = fit_gamma_gamma(data["x"], data["m"])
    np.testing.assert_allclose(dataclasses.astuple(gg_fit.params), dataclasses.astuple(gg),
                               rtol=0.05)


@pytest.mark.parametrize(
    ("x", "t_x", "T", "match"),
    [
        ([], [], [], "non-empty"),
        ([0, 0, 0], [0, 0, 0], [5, 6, 7], "no repeat"),
        ([1, 2], [3, 9], [5, 6], "t_x <= T"),
        ([0, 2], [1, 3], [5, 6], "t_x == 0"),
        ([-1, 2], [0, 3], [5, 6], "non-negative"),
        ([1.5, 2], [1, 3], [5, 6], "integers"),
        ([1, 2], [1, np.nan], [5, 6], "non-finite"),
        ([1, 2, 3], [1, 2], [5, 6], "non-empty"),
    ],
)
def test_bgnbd_rejects_bad_input(x: list[float], t_x: list[float], T: list[float],
                                 match: str) -> None:
    with pytest.raises(ModelError, match=match):
        fit_bgnbd(x, t_x, T)


def test_gamma_gamma_rejects_bad_input() -> None:
    with pytest.raises(ModelError, match="no customers"):
        fit_gamma_gamma([0, 0], [0.0, 0.0])
    with pytest.raises(ModelError, match="> 0"):
        fit_gamma_gamma([1, 2], [10.0, -1.0])
    with pytest.raises(ModelError, match="size"):
        fit_gamma_gamma([1, 2], [10.0])


def test_fit_result_is_frozen(cdnow: dict[str, Arr]) -> None:
    fit = fit_gamma_gamma(cdnow["x"], cdnow["m"])
    assert isinstance(fit, FitResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit.converged = False  # type: ignore[misc]


def test_value_tier_cuts_are_deterministic_quantiles() -> None:
    values = np.random.default_rng(3).lognormal(3.0, 1.0, 1001)
    cuts = value_tier_cuts(values)
    assert cuts == tuple(np.quantile(values, [0.5, 0.8, 0.95]))
    assert value_tier_cuts(values[::-1]) == cuts
    assert value_tier_cuts(np.append(values, [np.nan, np.inf])) == cuts
    assert value_tier_cuts([1.0, 2.0, 3.0, 4.0, 5.0], (0.25, 0.5, 0.75)) == (2.0, 3.0, 4.0)
    assert all(isinstance(c, float) for c in cuts)
    with pytest.raises(ModelError):
        value_tier_cuts([np.nan])
    with pytest.raises(ModelError):
        value_tier_cuts(values, (0.8, 0.5, 0.95))
