"""The sBG retention model: Fader & Hardie 2007's published fits, DERL and expected renewals
against direct sums of the survival function, recovery of simulated parameters, storage."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy.special import hyp2f1

from clv_stream.domain import kinds
from clv_stream.domain.bgnbd import BgNbdParams
from clv_stream.domain.gamma_gamma import GammaGammaParams
from clv_stream.domain.model import ScoringModel
from clv_stream.domain.protocols import RetentionModel
from clv_stream.domain.sbg import SbgCohorts, SbgParams, log_churn_probability, log_survival
from clv_stream.domain.sbg_fit import fit_sbg, fit_sbg_cohorts, fit_sbg_survival
from clv_stream.exceptions import ModelError

Arr = NDArray[np.float64]
#: Fader & Hardie 2007, "How to project customer retention": customers alive at the start of
#: years 0..7 of two cohorts of 1,000, and the parameters they fitted.
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491]
PUBLISHED = {"regular": (REGULAR, 0.704, 1.182), "high_end": (HIGH_END, 0.668, 3.806)}

alphas = st.floats(0.05, 50.0)
betas = st.floats(0.05, 500.0)
renewal_counts = st.integers(0, 2000)


def ratio_of_survival(params: SbgParams, r: int, k: Arr) -> Arr:
    """``S(r+k) / S(r)`` from the Beta functions (not the running product of the module)."""
    return np.exp(log_survival(params, r + k) - log_survival(params, r))


def direct_derl(params: SbgParams, r: int, d: float) -> float:
    """``sum_{i>=1} S(r+i)/S(r) (1+d)^-i``, summed until the tail (at most the last term
    over ``d``, since each term is at most ``1/(1+d)`` times the one before) is below 1e-13."""
    total, start, chunk = 0.0, 1, 4096
    while True:
        i = np.arange(start, start + chunk, dtype=np.float64)
        terms = ratio_of_survival(params, r, i) * (1.0 + d) ** -i
        total += float(terms.sum())
        if terms[-1] / d < 1e-13 * total:
            return total
        start += chunk


def individuals(alive: list[int]) -> tuple[Arr, NDArray[np.bool_]]:
    """A survival table as subscribers: a customer lost in period ``t`` churned after
    ``t - 1`` renewals, a survivor of the last period is active with that many renewals."""
    counts = np.array(alive)
    lost = -np.diff(counts)
    renewals = np.concatenate([np.repeat(np.arange(lost.size), lost),
                               np.full(counts[-1], lost.size)]).astype(np.float64)
    churned = np.concatenate([np.ones(lost.sum(), bool), np.zeros(counts[-1], bool)])
    return renewals, churned


def simulate(params: SbgParams, n: int, seed: int) -> tuple[Arr, NDArray[np.bool_]]:
    """Subscribers drawn from the sBG, observed for 1..24 periods (cohorts of different ages)."""
    rng = np.random.default_rng(seed)
    theta = rng.beta(params.alpha, params.beta, n)
    lifetime = rng.geometric(theta)  # the period of churn, >= 1
    observed = rng.integers(1, 25, n)
    churned = lifetime <= observed
    return np.where(churned, lifetime - 1, observed).astype(np.float64), churned


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_the_published_parameters_are_reproduced_from_the_survival_table(name: str) -> None:
    alive, alpha, beta = PUBLISHED[name]
    fit = fit_sbg_survival(alive)
    assert fit.converged
    assert fit.n_customers == 1000
    assert fit.params.alpha == pytest.approx(alpha, rel=0.01)
    assert fit.params.beta == pytest.approx(beta, rel=0.01)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_the_same_cohort_as_individual_subscribers_gives_the_same_fit(name: str) -> None:
    alive, alpha, beta = PUBLISHED[name]
    table = fit_sbg_survival(alive)
    fit = fit_sbg(*individuals(alive))
    assert fit.params.alpha == pytest.approx(alpha, rel=0.01)
    assert fit.params.beta == pytest.approx(beta, rel=0.01)
    assert fit.log_likelihood == pytest.approx(table.log_likelihood, rel=1e-12)
    assert fit.params.alpha == pytest.approx(table.params.alpha, rel=1e-5)


def test_the_log_likelihood_is_the_sum_of_the_subscribers_terms() -> None:
    fit = fit_sbg_survival(REGULAR)
    renewals, churned = individuals(REGULAR)
    by_hand = np.where(churned, log_churn_probability(fit.params, renewals + 1),
                       log_survival(fit.params, renewals)).sum()
    assert fit.log_likelihood == pytest.approx(by_hand, rel=1e-12)


@settings(max_examples=100, deadline=None)
@given(alphas, betas, renewal_counts, st.floats(1e-4, 3.0))
def test_derl_equals_the_direct_sum_of_discounted_survival(alpha: float, beta: float, r: int,
                                                          d: float) -> None:
    params = SbgParams(alpha, beta)
    derl = params.discounted_residual_lifetime(np.array([r, 0, r]), d)
    assert derl[0] == pytest.approx(direct_derl(params, r, d), rel=1e-9)
    assert derl[1] == pytest.approx(direct_derl(params, 0, d), rel=1e-9)
    assert derl[2] == derl[0]


@pytest.mark.parametrize(("alpha", "beta", "n", "d"),
                         [(0.704, 1.182, 1, 0.1), (0.668, 3.806, 5, 0.1), (2.5, 4.0, 3, 0.25)])
def test_derl_is_fader_and_hardie_2010s_with_the_next_renewal_a_period_away(
        alpha: float, beta: float, n: int, d: float) -> None:
    # their eq. 6 for a customer about to make the n-th renewal, with scipy's 2F1 where it is
    # accurate (small parameters, z well inside the unit disc)
    theirs = (beta + n - 1) / (alpha + beta + n - 1) * hyp2f1(1.0, beta + n, alpha + beta + n,
                                                              1.0 / (1.0 + d))
    ours = SbgParams(alpha, beta).discounted_residual_lifetime(n - 1, d)
    assert float(ours) * (1.0 + d) == pytest.approx(theirs, rel=1e-12)


def test_undiscounted_derl_is_finite_only_for_alpha_above_one() -> None:
    assert SbgParams(2.5, 4.0).discounted_residual_lifetime(3, 0.0) == pytest.approx(7.0 / 1.5)
    assert np.isinf(SbgParams(0.704, 1.182).discounted_residual_lifetime(3, 0.0))
    with pytest.raises(ValueError, match="discount_rate"):
        SbgParams(1.0, 1.0).discounted_residual_lifetime(0, -0.1)


@settings(max_examples=200, deadline=None)
@given(alphas, betas, renewal_counts)
def test_retention_probability_is_the_ratio_of_survivals(alpha: float, beta: float,
                                                          r: int) -> None:
    params = SbgParams(alpha, beta)
    expected = ratio_of_survival(params, r, np.array([1.0]))[0]
    assert params.retention_probability(r) == pytest.approx(expected, rel=1e-10)


@settings(max_examples=200, deadline=None)
@given(alphas, betas, st.lists(renewal_counts, min_size=1, max_size=5),
       st.integers(0, 400))
def test_expected_renewals_is_the_sum_of_survival_ratios(alpha: float, beta: float,
                                                         renewals: list[int],
                                                         horizon: int) -> None:
    params = SbgParams(alpha, beta)
    got = params.expected_renewals(horizon + 0.5, np.array(renewals))
    k = np.arange(1.0, horizon + 1)
    for value, r in zip(got, renewals, strict=True):
        assert value == pytest.approx(ratio_of_survival(params, r, k).sum(), rel=1e-10)
        if abs(alpha - 1.0) > 0.05:  # the telescoped closed form, away from its 0/0 at alpha 1
            b = beta + r
            closed = (b - (alpha + b + horizon) * ratio_of_survival(
                params, r, np.array([horizon + 1.0]))[0]) / (alpha - 1.0)
            # a difference of two terms of size b (the second's Beta functions good to
            # ~1e-13 at large b), over alpha - 1
            rounding = 1e-11 * (b + horizon) / abs(alpha - 1.0)
            assert value == pytest.approx(closed, rel=1e-8, abs=rounding)


def test_expected_renewals_broadcasts_periods_and_renewals() -> None:
    params = SbgParams(0.704, 1.182)
    grid = params.expected_renewals(np.array([[0], [1], [12]]), np.array([0, 5]))
    assert grid.shape == (3, 2)
    assert np.all(grid[0] == 0.0)
    assert grid[1] == pytest.approx(params.retention_probability([0, 5]))
    assert np.all(grid[2] > grid[1])


@settings(max_examples=12, deadline=None, derandomize=True)
@given(st.floats(0.3, 3.0), st.floats(0.5, 10.0))
def test_fitting_simulated_subscribers_recovers_their_parameters(alpha: float,
                                                                 beta: float) -> None:
    truth = SbgParams(alpha, beta)
    renewals, churned = simulate(truth, 40_000, seed=11)
    fit = fit_sbg(renewals, churned)
    assert fit.converged
    # the truth lies in the fit's 99.9 % likelihood-ratio region, and near it
    at_truth = np.where(churned, log_churn_probability(truth, renewals + 1),
                        log_survival(truth, renewals)).sum()
    assert 2.0 * (fit.log_likelihood - at_truth) < 13.82
    assert fit.params.alpha == pytest.approx(alpha, rel=0.25)
    assert fit.params.beta == pytest.approx(beta, rel=0.25)
    mean_churn = alpha / (alpha + beta)
    assert fit.params.alpha / (fit.params.alpha + fit.params.beta) == pytest.approx(
        mean_churn, rel=0.05)


def test_each_large_cohort_gets_its_own_fit_and_the_rest_the_pooled_one() -> None:
    regular, high_end = individuals(REGULAR), individuals(HIGH_END)
    young = (np.zeros(50), np.zeros(50, bool))  # nobody has churned yet: no finite maximum
    renewals = np.concatenate([regular[0], high_end[0], young[0], [0.0, 1.0]])
    churned = np.concatenate([regular[1], high_end[1], young[1], [True, False]])
    cohorts = (["2024-01|month"] * 1000 + ["2024-01|year"] * 1000 + ["2024-02|month"] * 50
               + ["2024-03|week"] * 2)

    fit = fit_sbg_cohorts(cohorts, renewals, churned, min_subscribers=10)

    assert fit.model.of("2024-01|month") == fit_sbg(*regular).params
    assert fit.model.of("2024-01|year") == fit_sbg(*high_end).params
    assert fit.model.pooled == fit_sbg(renewals, churned).params
    assert fit.model.of("2024-02|month") == fit.model.pooled
    assert fit.model.of("2024-03|week") == fit.model.pooled
    assert fit.model.of("1999-12|day") == fit.model.pooled
    assert set(fit.cohorts) == {"2024-01|month", "2024-01|year"}
    assert fit.skipped == {"2024-02|month": "no subscriber has churned: sBG cannot be fitted",
                           "2024-03|week": "2 subscribers < 10"}
    assert fit.pooled.n_customers == 2052
    pooled = fit.model.pooled
    assert fit.model.discounted_residual_lifetime(3, 0.1) == pooled.discounted_residual_lifetime(
        3, 0.1)
    assert fit.model.expected_renewals(12, 3) == pooled.expected_renewals(12, 3)
    assert fit.model.retention_probability(3) == pooled.retention_probability(3)


@pytest.mark.parametrize("retention", [
    SbgParams(0.704, 1.182),
    SbgCohorts(SbgParams(0.7, 2.0), {"2024-01|month": SbgParams(0.704, 1.182),
                                     "2024-01|year": SbgParams(0.668, 3.806)}),
    SbgCohorts(SbgParams(0.7, 2.0)),
])
def test_the_scoring_model_stores_and_loads_its_sbg(retention: RetentionModel) -> None:
    model = ScoringModel("subs-1", BgNbdParams.DEFAULT, GammaGammaParams.DEFAULT,
                         retention=retention)
    stored = orjson.loads(orjson.dumps(model.to_json_dict()))  # as in Redis P:models
    assert stored["retention"]["kind"] == kinds.kind_of(retention).name
    loaded = ScoringModel.from_json_dict(stored)
    assert loaded == model
    assert type(loaded.retention) is type(retention)


def test_stored_cohorts_are_validated_when_loaded() -> None:
    stored = {"kind": "sbg_cohorts",
              "params": {"pooled": {"alpha": 0.7, "beta": 2.0},
                         "cohorts": {"2024-01|month": {"alpha": -1.0, "beta": 2.0}}}}
    with pytest.raises(ModelError, match="alpha must be finite and > 0"):
        kinds.load(stored, "retention")
    with pytest.raises(ModelError, match=r"SbgParams\.beta"):
        SbgParams(1.0, float("nan"))


@pytest.mark.parametrize(("alive", "message"), [
    ([1000], "at least|>= 2"),
    ([1000, 1100], "non-increasing"),
    ([0, 0], "first positive"),
    ([1000, 500.5], "whole numbers"),
    ([1000, 1000, 1000], "no subscriber has churned"),
    ([1000, 0], "not identified"),
    ([1000, 600], "not identified"),
])
def test_a_survival_table_that_cannot_be_fitted_is_refused(alive: list[float],
                                                           message: str) -> None:
    with pytest.raises(ModelError, match=message):
        fit_sbg_survival(alive)  # type: ignore[arg-type]


def test_invalid_subscribers_are_refused() -> None:
    with pytest.raises(ModelError, match="booleans"):
        fit_sbg([1, 2], [1, 0])
    with pytest.raises(ModelError, match="differ in size"):
        fit_sbg([1, 2], [True])
    with pytest.raises(ModelError, match="whole numbers"):
        fit_sbg([1.5, 2], [True, False])
    with pytest.raises(ModelError, match="whole numbers"):
        fit_sbg([-1, 2], [True, False])
    with pytest.raises(ModelError, match="not identified"):
        fit_sbg([0, 0, 1, 0], [True, False, False, True])
    with pytest.raises(ModelError, match="cohorts and renewals differ"):
        fit_sbg_cohorts(["2024-01|month"], [1, 2], [True, False], min_subscribers=1)
