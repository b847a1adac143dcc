"""Maximum-likelihood fits of the sBG (:mod:`~clv_stream.domain.sbg`): from a cohort's survival
table, from individual subscribers, and per cohort with a pooled fallback.

The likelihood of a subscriber who churned after ``r`` renewals is ``P(T = r + 1)``; of one
still subscribed after ``r`` renewals (right-censored), ``S(r)``. Subscribers are grouped by
``(r, churned)`` with counts as weights, so a fit costs a few ``digamma`` passes over the
distinct renewal counts whatever the number of subscribers. The mean negative
log-likelihood is minimised over ``log(alpha, beta)`` with L-BFGS-B and the analytic gradient
(:func:`~clv_stream.domain.mle.fit_log_params`) from a few fixed starting points, keeping the
best: deterministic, and robust to the flat ridge the likelihood has along ``alpha/(alpha+beta)``
when heterogeneity is weak.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import betaln, digamma

from clv_stream.domain.arrays import FloatArray
from clv_stream.domain.mle import FitResult, Objective, Optimum, column, dot, fit_log_params
from clv_stream.domain.sbg import SbgCohorts, SbgParams
from clv_stream.exceptions import ModelError

__all__ = ["SbgCohortsFit", "fit_sbg", "fit_sbg_cohorts", "fit_sbg_survival"]


@dataclass(frozen=True, slots=True)
class _SbgData:
    """Distinct churn periods ``t`` (``T = t``) and survivals (``T > s``), with counts."""

    churn_t: FloatArray
    churn_w: FloatArray
    alive_s: FloatArray
    alive_w: FloatArray

    @property
    def n(self) -> int:
        return int(self.churn_w.sum() + self.alive_w.sum())


def _objective(d: _SbgData) -> Objective:
    """Mean negative sBG log-likelihood and its gradient in ``log(alpha, beta)``.

    ``ll = sum w_c [lnB(a+1, b+t-1) - lnB(a, b)] + sum w_s [lnB(a, b+s) - lnB(a, b)]``;
    ``d lnB(x, y)/dx = psi(x) - psi(x+y)``, likewise in ``y``.
    """
    n = float(d.n)

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        a, b = (float(v) for v in np.exp(theta))
        bc, bs = b + d.churn_t - 1.0, b + d.alive_s
        psi_c, psi_s = digamma(a + 1.0 + bc), digamma(a + bs)
        total = (dot(d.churn_w, betaln(a + 1.0, bc)) + dot(d.alive_w, betaln(a, bs))
                 - n * float(betaln(a, b)))
        psi_ab = float(digamma(a + b))
        grad = np.array([
            dot(d.churn_w, digamma(a + 1.0) - psi_c) + dot(d.alive_w, digamma(a) - psi_s)
            - n * (float(digamma(a)) - psi_ab),
            dot(d.churn_w, digamma(bc) - psi_c) + dot(d.alive_w, digamma(bs) - psi_s)
            - n * (float(digamma(b)) - psi_ab),
        ])
        return -total / n, -grad * np.array([a, b]) / n

    return objective


def _starts(d: _SbgData) -> list[tuple[float, float]]:
    """Fixed starting points: uniform churn, and the first period's churn share with weak
    and with strong heterogeneity."""
    first = float(d.churn_w[d.churn_t == 1.0].sum()) / d.n
    p = min(max(first, 0.01), 0.99)
    return [(1.0, 1.0), (p, 1.0 - p), (10.0 * p, 10.0 * (1.0 - p))]


def _fit(d: _SbgData) -> FitResult[SbgParams]:
    """The best optimum over :func:`_starts`; :class:`ModelError` when none is usable."""
    started = time.perf_counter()
    if d.n == 0:
        raise ModelError("no subscribers: sBG cannot be fitted")
    if d.churn_w.sum() == 0:
        raise ModelError("no subscriber has churned: sBG cannot be fitted")
    if not (np.any(d.churn_t >= 2.0) or np.any((d.alive_s >= 2.0) & (d.alive_w > 0))):
        # only P(T = 1) is observed: every (alpha, beta) of that mean fits equally well
        raise ModelError("no subscriber is observed past the first renewal: the sBG's alpha "
                         "and beta are not identified")
    objective = _objective(d)
    best: Optimum | None = None
    failure: ModelError | None = None
    for start in _starts(d):
        try:
            opt = fit_log_params(objective, np.log(np.array(start)), d.n)
        except ModelError as exc:
            failure = exc
            continue
        if best is None or opt.log_likelihood > best.log_likelihood:
            best = opt
    if best is None:
        assert failure is not None
        raise failure
    alpha, beta = (float(v) for v in np.exp(best.theta))
    return FitResult(SbgParams(alpha=alpha, beta=beta), best.log_likelihood, best.converged,
                     best.iterations, d.n, time.perf_counter() - started, best.message)


def fit_sbg_survival(alive: Sequence[int]) -> FitResult[SbgParams]:
    """Fit the sBG to a cohort's survival table: ``alive[t]`` subscribers at the start of
    period ``t`` (``alive[0]`` acquired), as Fader & Hardie 2007's tables.

    ``ll = sum_{t=1..n} (alive[t-1] - alive[t]) ln P(T=t) + alive[n] ln S(n)``.
    Raises :class:`ModelError` on fewer than two counts, negative or increasing counts, or a
    degenerate fit.
    """
    counts = column("alive", alive)
    if counts.size < 2 or counts[0] <= 0 or np.any(counts < 0) or np.any(np.diff(counts) > 0):
        raise ModelError("alive must be >= 2 non-negative, non-increasing counts, "
                         f"the first positive: {list(alive)}")
    if np.any(counts != np.round(counts)):
        raise ModelError("alive must be whole numbers of subscribers")
    lost = -np.diff(counts)
    periods = np.arange(1.0, counts.size)
    churned = lost > 0
    last = float(counts.size - 1)
    return _fit(_SbgData(periods[churned], lost[churned], np.array([last]), counts[-1:]))


def fit_sbg(renewals: ArrayLike, churned: ArrayLike) -> FitResult[SbgParams]:
    """Fit the sBG to individual subscribers: ``renewals`` made (whole, >= 0) and whether each
    has ``churned`` (after those renewals: ``P(T = r+1)``) or is still subscribed (``S(r)``,
    right-censored). Raises :class:`ModelError` on invalid input, no churn, or a degenerate
    fit (e.g. every subscriber churned at once)."""
    r, gone = _subscribers(renewals, churned)
    churn_t, churn_w = np.unique(r[gone] + 1.0, return_counts=True)
    alive_s, alive_w = np.unique(r[~gone], return_counts=True)
    return _fit(_SbgData(churn_t, churn_w.astype(np.float64), alive_s,
                         alive_w.astype(np.float64)))


def _subscribers(renewals: ArrayLike, churned: ArrayLike) -> tuple[FloatArray, np.ndarray]:
    r = column("renewals", renewals)
    gone = np.asarray(churned).ravel()
    if gone.dtype != np.bool_:
        raise ModelError(f"churned must be booleans, got {gone.dtype}")
    if r.size != gone.size:
        raise ModelError(f"renewals and churned differ in size: {r.size} != {gone.size}")
    if np.any(r < 0) or np.any(r != np.round(r)):
        raise ModelError("renewals must be whole numbers >= 0")
    return r, gone


@dataclass(frozen=True, slots=True)
class SbgCohortsFit:
    """A per-cohort sBG and how each fit went: ``pooled`` over every subscriber, ``cohorts``
    the fits kept, ``skipped`` why a cohort uses the pooled model (too few subscribers, or
    its own fit failed or did not converge: a young cohort that has not churned yet has no
    finite maximum)."""

    model: SbgCohorts
    pooled: FitResult[SbgParams]
    cohorts: dict[str, FitResult[SbgParams]]
    skipped: dict[str, str]


def fit_sbg_cohorts(cohorts: Sequence[str], renewals: ArrayLike, churned: ArrayLike,
                    min_subscribers: int) -> SbgCohortsFit:
    """Fit the pooled sBG on all subscribers and one per cohort (``"YYYY-MM|interval"``,
    one key per subscriber) with at least ``min_subscribers`` subscribers; other cohorts
    score with the pooled model. Cohorts are fitted in sorted order (deterministic).
    Raises :class:`ModelError` when the pooled fit fails."""
    r, gone = _subscribers(renewals, churned)
    keys = np.asarray(cohorts, dtype=object).ravel()
    if keys.size != r.size:
        raise ModelError(f"cohorts and renewals differ in size: {keys.size} != {r.size}")
    pooled = fit_sbg(r, gone)
    fitted: dict[str, FitResult[SbgParams]] = {}
    skipped: dict[str, str] = {}
    names, inverse, sizes = np.unique(keys.astype(str), return_inverse=True, return_counts=True)
    for i, (name, size) in enumerate(zip(names.tolist(), sizes.tolist(), strict=True)):
        if size < min_subscribers:
            skipped[name] = f"{size} subscribers < {min_subscribers}"
            continue
        mine = inverse.ravel() == i
        try:
            result = fit_sbg(r[mine], gone[mine])
        except ModelError as exc:
            skipped[name] = str(exc)
            continue
        if not result.converged:
            skipped[name] = f"did not converge: {result.message}"
            continue
        fitted[name] = result
    model = SbgCohorts(pooled.params, {k: v.params for k, v in fitted.items()})
    return SbgCohortsFit(model, pooled, fitted, skipped)
