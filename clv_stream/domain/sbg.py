"""Shifted-beta-geometric (sBG) retention model for subscriptions: vectorised, exact sums.

Fader & Hardie 2007, "How to project customer retention" (J. Interactive Marketing 21(1)):
each subscriber churns at the end of a period with a constant probability
``theta ~ Beta(alpha, beta)``. With ``T`` the period in which they churn (``T = 1`` means
they never renew),

* ``P(T = t) = B(alpha + 1, beta + t - 1) / B(alpha, beta)``, ``t = 1, 2, ...``
* ``S(t) = P(T > t) = B(alpha, beta + t) / B(alpha, beta)``, the share still subscribed
  after ``t`` renewals.

Conventions (those of :class:`~clv_stream.domain.protocols.RetentionModel`): time counts
renewal periods; ``renewals`` = ``r`` renewals made so far by a subscriber who is still
subscribed, so ``r + 1`` periods have been paid and ``T > r``. Conditioning on that gives
``theta | T > r ~ Beta(alpha, beta + r)``: every figure of a subscriber is the population's
figure with ``beta`` replaced by ``beta + r``. The expected lifetime ``E[T]`` is infinite for
``alpha <= 1`` (``(alpha + beta - 1) / (alpha - 1)`` otherwise), so it is not offered; the
discounted figure :func:`discounted_residual_lifetime` is finite for any positive discount.
Arguments broadcast as numpy does; out-of-domain values (negative renewals) give NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import betaln

from clv_stream.domain.arrays import FloatArray, as_float, broadcast, check_positive

__all__ = [
    "DEFAULT_SBG",
    "SbgCohorts",
    "SbgParams",
    "discounted_residual_lifetime",
    "expected_renewals",
    "log_churn_probability",
    "log_survival",
    "retention_probability",
]

#: Terms of the continued fraction for DERL: ``_CF_SCALE / sqrt(d) + _CF_MIN`` makes its
#: truncation error below 1e-13 relative (it decays like ``exp(-4 n sqrt(d))``).
_CF_SCALE = 20.0
_CF_MIN = 40


@dataclass(frozen=True, slots=True)
class SbgParams:
    """sBG parameters: the churn probability per period is ``Beta(alpha, beta)``; the mean
    churn rate is ``alpha / (alpha + beta)``. Unitless: a period is the billing interval the
    model was fitted on. The methods are the
    :class:`~clv_stream.domain.protocols.RetentionModel` role."""

    alpha: float
    beta: float

    def __post_init__(self) -> None:
        check_positive("SbgParams", alpha=self.alpha, beta=self.beta)

    def retention_probability(self, renewals: ArrayLike) -> FloatArray:
        return retention_probability(self, renewals)

    def expected_renewals(self, periods: ArrayLike, renewals: ArrayLike) -> FloatArray:
        return expected_renewals(self, periods, renewals)

    def discounted_residual_lifetime(self, renewals: ArrayLike,
                                     discount_rate: float) -> FloatArray:
        return discounted_residual_lifetime(self, renewals, discount_rate)


def log_churn_probability(params: SbgParams, t: ArrayLike) -> FloatArray:
    """``ln P(T = t)``: churn at the end of period ``t`` (after ``t - 1`` renewals)."""
    t_arr = as_float(t)
    a, b = params.alpha, params.beta
    return np.asarray(betaln(a + 1.0, b + t_arr - 1.0) - betaln(a, b), dtype=np.float64)


def log_survival(params: SbgParams, t: ArrayLike) -> FloatArray:
    """``ln S(t)``: still subscribed after ``t`` renewals."""
    t_arr = as_float(t)
    a, b = params.alpha, params.beta
    return np.asarray(betaln(a, b + t_arr) - betaln(a, b), dtype=np.float64)


def retention_probability(params: SbgParams, renewals: ArrayLike) -> FloatArray:
    """Probability of the next renewal after ``r`` renewals:
    ``S(r+1) / S(r) = (beta + r) / (alpha + beta + r)``, rising with ``r`` (the subscribers
    who stay are those with a low churn probability)."""
    r = as_float(renewals)
    return np.asarray((params.beta + r) / (params.alpha + params.beta + r), dtype=np.float64)


def expected_renewals(params: SbgParams, periods: ArrayLike, renewals: ArrayLike) -> FloatArray:
    """Expected renewals within the next ``H`` periods: ``sum_{k=1..H} S(r+k) / S(r)``.

    ``H`` is ``floor(periods)`` (renewals happen at whole periods). Summed term by term, each
    ``S(r+k) / S(r)`` the running product of :func:`retention_probability`, once per distinct
    ``(r, H)``: exact for every ``alpha`` (the telescoped closed form
    ``((beta+r) - (alpha+beta+r+H) S(r+H+1)/S(r)) / (alpha-1)`` cancels near ``alpha = 1``),
    at a cost of ``max(H)`` vector steps. Undiscounted and ``H -> infinity`` it diverges
    for ``alpha <= 1``.
    """
    h, r = broadcast(np.floor(as_float(periods)), renewals)
    h_vals, h_code = np.unique(h.ravel(), return_inverse=True)
    r_vals, r_code = np.unique(r.ravel(), return_inverse=True)
    keys, first, inverse = np.unique(h_code.ravel() * r_vals.size + r_code.ravel(),
                                     return_index=True, return_inverse=True)
    horizon, b = h_vals[keys // r_vals.size], params.beta + r.ravel()[first]
    total = np.zeros_like(b)
    term = np.ones_like(b)
    for k in range(int(horizon.max(initial=0.0))):
        term = term * (b + k) / (params.alpha + b + k)
        total += np.where(horizon > k, term, 0.0)
    return np.asarray(total[inverse.ravel()].reshape(h.shape), dtype=np.float64)


def _hyp2f1_one(b: FloatArray, c: FloatArray, z: float, terms: int) -> FloatArray:
    """``2F1(1, b; c; z)`` for ``0 < b < c``, ``0 <= z < 1`` by Gauss's continued fraction
    (the ratio ``2F1(1, b; c; z) / 2F1(0, b; c-1; z)``), evaluated from the tail.

    For ``c > b > 0`` every partial numerator ``k z`` is negative: a Stieltjes-type
    fraction (the function is ``E[1 / (1 - z p)]``, ``p ~ Beta(b, c - b)``), whose levels stay
    positive, so the evaluation from the tail is stable. scipy's ``hyp2f1`` returns NaN or
    loses digits here when ``b`` and ``c`` are large (long-standing subscribers) or
    ``c - b - 1`` is an integer with ``z`` near 1.
    """
    c0 = c - 1.0
    level = np.ones_like(b)
    for j in range(terms, 0, -1):
        m = j // 2
        if j % 2:
            k = (-c0 - m) * (b + m) / ((c0 + 2 * m) * (c0 + 2 * m + 1.0))
        else:
            k = (b - c0 - m) * m / ((c0 + 2 * m - 1.0) * (c0 + 2 * m))
        level = 1.0 + k * z / level
    return np.asarray(1.0 / level, dtype=np.float64)


def discounted_residual_lifetime(params: SbgParams, renewals: ArrayLike,
                                 discount_rate: float) -> FloatArray:
    """DERL: expected future payments of a subscriber after ``r`` renewals, the payment at
    the end of the ``i``-th period from now discounted by ``(1 + d)^i``, ``i = 1, 2, ...``.

    ``DERL = sum_{i>=1} S(r+i)/S(r) / (1+d)^i
           = (beta+r)/(alpha+beta+r) * 2F1(1, beta+r+1; alpha+beta+r+1; 1/(1+d)) / (1+d)``.

    The current, already paid period is excluded. Fader & Hardie 2010 ("Customer-base
    valuation in a contractual setting", Marketing Science 29(1), eq. 6) value a subscriber
    at the end of period ``n`` *just before* the ``n``-th renewal, whose payment they leave
    undiscounted: their ``DERL(d | alpha, beta, n - 1 renewals)`` is this at ``r = n - 1``
    times ``(1 + d)``. Here the subscriber is valued right after their latest payment
    (``renewals`` is 0 right after the first), so the next payment is a period away, as the
    order model's end-of-month convention. ``d`` is per renewal period; ``d = 0`` gives the
    undiscounted ``(beta + r) / (alpha - 1)``, infinite for ``alpha <= 1``.
    """
    if not (math.isfinite(discount_rate) and discount_rate >= 0.0):
        raise ValueError(f"discount_rate must be finite and >= 0, got {discount_rate!r}")
    r = as_float(renewals)
    distinct, inverse = np.unique(r, return_inverse=True)
    b = params.beta + distinct
    if discount_rate == 0.0:
        value = b / (params.alpha - 1.0) if params.alpha > 1.0 else np.full_like(b, np.inf)
    else:
        z = 1.0 / (1.0 + discount_rate)
        terms = math.ceil(_CF_SCALE / math.sqrt(discount_rate)) + _CF_MIN
        hyp = _hyp2f1_one(b + 1.0, params.alpha + b + 1.0, z, terms)
        value = z * b / (params.alpha + b) * hyp
    return np.asarray(value[inverse.ravel()].reshape(r.shape), dtype=np.float64)


def _as_params(value: SbgParams | Mapping[str, Any]) -> SbgParams:
    """``value`` itself, or the :class:`SbgParams` of its stored fields."""
    return value if isinstance(value, SbgParams) else SbgParams(**value)


@dataclass(frozen=True, slots=True)
class SbgCohorts:
    """An sBG per cohort (start month x billing interval, key ``"2024-01|month"``) with the
    ``pooled`` fit of all subscribers for cohorts without their own.

    As a :class:`~clv_stream.domain.protocols.RetentionModel` it is the pooled model; scoring
    a subscriber uses :meth:`of` its cohort. Built from stored JSON, the fields arrive as
    dicts of ``alpha`` and ``beta`` and are turned into :class:`SbgParams` (validated).
    """

    pooled: SbgParams
    cohorts: dict[str, SbgParams] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pooled", _as_params(self.pooled))
        object.__setattr__(self, "cohorts",
                           {str(k): _as_params(v) for k, v in self.cohorts.items()})

    def of(self, cohort: str) -> SbgParams:
        """The model of ``cohort``; the pooled one for a cohort fitted without its own."""
        return self.cohorts.get(cohort, self.pooled)

    def retention_probability(self, renewals: ArrayLike) -> FloatArray:
        return retention_probability(self.pooled, renewals)

    def expected_renewals(self, periods: ArrayLike, renewals: ArrayLike) -> FloatArray:
        return expected_renewals(self.pooled, periods, renewals)

    def discounted_residual_lifetime(self, renewals: ArrayLike,
                                     discount_rate: float) -> FloatArray:
        return discounted_residual_lifetime(self.pooled, renewals, discount_rate)


#: Until ``clv-stream fit`` fits one: Fader & Hardie's (2007) "regular" cohort.
DEFAULT_SBG = SbgParams(0.704, 1.182)
