"""BG/NBD purchase model: vectorised, evaluated in log space where it matters.

Fader, Hardie & Lee 2005a, "Counting your customers the easy way": while alive a customer
buys as a Poisson process of rate ``lambda ~ Gamma(r, alpha)`` (shape ``r``, *rate*
``alpha``); after each purchase they drop out with probability ``p ~ Beta(a, b)``.

Conventions, shared by every function here (and by :mod:`~clv_stream.domain.gamma_gamma`):

* ``x`` is the number of *repeat* purchases (the first purchase is not counted), ``t_x`` the
  time of the last purchase and ``T`` the customer's age, both measured from the first purchase;
  ``t_x == 0`` when ``x == 0``.
* Time unit: whatever unit the parameters were fitted in. ``alpha`` carries the unit (it is a
  rate scale); the product uses **days**, and :data:`BgNbdParams.DEFAULT` is on the day scale.
* Arguments are anything numpy broadcasts (scalars, 0-d, n-d arrays); results are float64
  arrays of the broadcast shape. Inputs are not validated: out-of-domain data gives NaN.

The results equal those of ``lifetimes`` 0.11.3 (``BetaGeoFitter``) to rounding, but stay
finite where ``lifetimes`` overflows (large ``x``, ``T`` or ``t``). :class:`BgNbdParams`
is the :class:`~clv_stream.domain.protocols.PurchaseModel` of kind ``bgnbd``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import reduce
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import betaln, expit, gammaln, hyp2f1

from clv_stream.domain.arrays import FloatArray, as_float, broadcast, check_positive

__all__ = [
    "BgNbdParams",
    "bgnbd_log_likelihood",
    "discounted_purchases",
    "expected_purchases",
    "expected_purchases_new",
    "median_days_to_next_purchase",
    "p_alive",
    "prob_no_purchase",
]

#: Nodes (in units of the gap) of the cubic interpolation across removable or numerical
#: singularities of the conditional expectation; see :func:`_alive_expectation`.
_NODES = (-2.0, -1.0, 1.0, 2.0)
#: Gap around ``a == 1`` (removable singularity of ``1/(a-1)``).
_A_GAP = 1e-4
#: Gap around integer ``a - r``, where scipy's 2F1 near ``z = 1`` is inaccurate or NaN.
_R_GAP = 2e-4


@dataclass(frozen=True, slots=True)
class BgNbdParams:
    """BG/NBD parameters: ``lambda ~ Gamma(r, alpha)``, ``p ~ Beta(a, b)``.

    ``alpha`` is in the time unit of the data (days in the product). Rescaling time by ``k``
    (e.g. weeks -> days, ``k = 7``) multiplies ``alpha`` by ``k``; ``r``, ``a``, ``b`` are unitless.
    The methods are the :class:`~clv_stream.domain.protocols.PurchaseModel` role, each the
    module function of the same meaning.
    """

    DEFAULT: ClassVar[BgNbdParams]

    r: float
    alpha: float
    a: float
    b: float

    def __post_init__(self) -> None:
        check_positive("BgNbdParams", r=self.r, alpha=self.alpha, a=self.a, b=self.b)

    def p_alive(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
        return p_alive(self, x, t_x, T)

    def expected_purchases(self, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, *,
                           alive: ArrayLike | None = None) -> FloatArray:
        return expected_purchases(self, t, x, t_x, T, alive=alive)

    def prob_no_purchase(self, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, *,
                         alive: ArrayLike | None = None) -> FloatArray:
        return prob_no_purchase(self, t, x, t_x, T, alive=alive)

    def median_time_to_next_purchase(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, *,
                                     alive: ArrayLike | None = None) -> FloatArray:
        return median_days_to_next_purchase(self, x, t_x, T, alive=alive)

    def discounted_purchases(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, *, periods: int,
                             period: float, discount_rate: float,
                             alive: ArrayLike | None = None) -> FloatArray:
        return discounted_purchases(self, x, t_x, T, months=periods, days_per_month=period,
                                    discount_rate=discount_rate, alive=alive)


#: CDNOW (Fader, Hardie & Lee 2005a): r=0.243, alpha=4.414 *weeks*, a=0.793, b=2.426, so
#: alpha = 4.414 * 7 days. A prior for a shop with no fitted model yet.
BgNbdParams.DEFAULT = BgNbdParams(r=0.243, alpha=4.414 * 7.0, a=0.793, b=2.426)


def _log_purchase_ratio(
    params: BgNbdParams, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> FloatArray:
    """``log[a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x)]`` for ``x > 0`` (garbage where x == 0)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (r + x) * np.log1p((T - t_x) / (alpha + t_x)) + np.log(a) - np.log(b + x - 1.0)
    return np.asarray(ratio, dtype=np.float64)


def bgnbd_log_likelihood(
    params: BgNbdParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> FloatArray:
    """Per-customer BG/NBD log-likelihood ``log L(r, alpha, a, b | x, t_x, T)`` (paper eq. 6).

    ``L = Gamma(r+x) alpha^r / Gamma(r) * B(a, b+x)/B(a, b)
          * [ (alpha+T)^-(r+x) + [x>0] a/(b+x-1) (alpha+t_x)^-(r+x) ]``,
    the bracket summed with ``logaddexp``. This is the density of ``t_x`` in the data's time unit,
    so totals are comparable only between fits on the same time scale.
    """
    x, t_x, T = broadcast(x, t_x, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.log(a) - np.log(b + x - 1.0) - (r + x) * np.log(alpha + t_x)
    a4 = np.where(x > 0, a4, -np.inf)
    return np.asarray(head + np.logaddexp(a3, a4), dtype=np.float64)


def p_alive(params: BgNbdParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """Probability the customer is still alive at ``T`` (Hardie's note 021).

    ``P = 1 / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))``, evaluated as
    ``expit(-log(...))``; exactly 1 for ``x == 0`` (BG/NBD customers drop out only after a
    repeat purchase).
    """
    x, t_x, T = broadcast(x, t_x, T)
    prob = np.where(x > 0, expit(-_log_purchase_ratio(params, x, t_x, T)), 1.0)
    return np.asarray(prob, dtype=np.float64)


def _alive_or(
    alive: ArrayLike | None, params: BgNbdParams, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> FloatArray:
    """``alive`` (P(alive) already computed by the caller, same shape), else :func:`p_alive`."""
    return p_alive(params, x, t_x, T) if alive is None else as_float(alive)


def _euler_expectation(
    params: BgNbdParams, t: FloatArray, x: FloatArray, T: FloatArray
) -> FloatArray:
    """Expected purchases in ``(T, T+t]`` *given alive at T*: the numerator of paper eq. 10.

    ``(a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)]`` with
    ``z = t/(alpha+T+t)``. That 2F1 overflows for large ``x`` or ``z -> 1``; by Euler's
    transformation ``2F1(A,B;C;z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z)`` the product is
    ``u^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)`` with ``u = 1-z``: small upper parameters and a
    large lower one, so it is bounded and benign for all ``x``, ``T`` and ``t``. The bracket is
    ``-expm1((a-1) log u + log 2F1)``; relative accuracy ~1e-15 / z.
    """
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    c = a + b + x - 1.0
    z = t / (alpha + T + t)
    log_u = -np.log1p(t / (alpha + T))
    hyp = hyp2f1(a + b - 1.0 - r, a - 1.0, c, z)
    with np.errstate(divide="ignore", invalid="ignore"):
        exponent = (a - 1.0) * log_u + np.log(hyp)
        bracket = np.where(hyp > 0, -np.expm1(exponent), 1.0 - np.exp((a - 1.0) * log_u) * hyp)
        value = c / (a - 1.0) * bracket
    pole = c == 0.0  # x == 0 and a + b == 1: c * 2F1(A, B; c; z) -> A B z 2F1(A+1, B+1; 2; z)
    if np.any(pole):
        limit = r * z * np.exp((a - 1.0) * log_u) * hyp2f1(1.0 - r, a, 2.0, z)
        value = np.where(pole, limit, value)
    return np.asarray(value, dtype=np.float64)


def _cubic_blend(
    make: Callable[[float], FloatArray], offset: float, gap: float
) -> FloatArray:
    """Lagrange-interpolate ``make(k * gap)``, ``k`` in :data:`_NODES`, at ``offset``."""
    s = offset / gap
    terms = [
        float(np.prod([(s - j) / (k - j) for j in _NODES if j != k])) * make(k * gap)
        for k in _NODES
    ]
    return np.asarray(reduce(np.add, terms), dtype=np.float64)


def _alive_expectation_r(
    params: BgNbdParams, t: FloatArray, x: FloatArray, T: FloatArray
) -> FloatArray:
    """:func:`_euler_expectation`, interpolated in ``r`` when ``a - r`` is near an integer.

    Then ``C - A - B = x + 1 + r - a`` is an integer for every ``x``: scipy's 2F1 loses up to
    ~1e-4 (or returns NaN) for ``z`` near 1. The expectation is smooth in ``r``; nodes
    ``r* + k * 2e-4`` around the degenerate ``r*`` keep the interpolation error below ~1e-11.
    """
    shift = params.a - params.r
    offset = shift - round(shift)
    r_star = params.r + offset
    if abs(offset) >= _R_GAP or r_star - 2.0 * _R_GAP <= 0.0:
        return _euler_expectation(params, t, x, T)
    return _cubic_blend(
        lambda h: _euler_expectation(replace(params, r=r_star + h), t, x, T), -offset, _R_GAP
    )


def _alive_expectation(
    params: BgNbdParams, t: FloatArray, x: FloatArray, T: FloatArray
) -> FloatArray:
    """Expected purchases in ``(T, T+t]`` given alive at T, for any parameters.

    Interpolated in ``a`` across the removable singularity ``a == 1`` (where ``1/(a-1)`` meets a
    vanishing bracket) and in ``r`` across integer ``a - r`` (:func:`_alive_expectation_r`).
    """
    offset = params.a - 1.0
    if abs(offset) >= _A_GAP:
        return _alive_expectation_r(params, t, x, T)
    return _cubic_blend(
        lambda h: _alive_expectation_r(replace(params, a=1.0 + h), t, x, T), offset, _A_GAP
    )


def expected_purchases(
    params: BgNbdParams, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike,
    *, alive: ArrayLike | None = None,
) -> FloatArray:
    """Expected number of purchases in ``(T, T+t]`` given ``(x, t_x, T)`` (paper eq. 10).

    ``E[Y(t) | x, t_x, T] = P_alive * (a+b+x-1)/(a-1)
    * [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))]``;
    the denominator of eq. 10 is ``1/P_alive``. Same values as ``lifetimes``
    ``conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T)``. ``alive``:
    :func:`p_alive` at ``(x, t_x, T)`` when already computed.
    """
    t, x, t_x, T = broadcast(t, x, t_x, T)
    # a count's expectation: rounding near t = 0 (a difference of two near-equal terms) can
    # dip a hair below zero
    return np.maximum(_alive_expectation(params, t, x, T) * _alive_or(alive, params, x, t_x, T),
                      0.0)


def expected_purchases_new(params: BgNbdParams, t: ArrayLike) -> FloatArray:
    """Expected repeat purchases in ``(0, t]`` of a customer who just made a first purchase.

    ``E[X(t)] = (a+b-1)/(a-1) * [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))]``
    (paper eq. 9), i.e. eq. 10 at ``x = t_x = T = 0``; ``lifetimes``
    ``expected_number_of_purchases_up_to_time(t)``.
    """
    t_arr = as_float(t)
    zero = np.zeros_like(t_arr)
    return _alive_expectation(params, t_arr, zero, zero)


def prob_no_purchase(
    params: BgNbdParams, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike,
    *, alive: ArrayLike | None = None,
) -> FloatArray:
    """Probability of no purchase in ``(T, T+t]`` (the product's ``churn_risk`` at t = 90 days).

    ``P0 = (1 - P_alive) + P_alive ((alpha+T)/(alpha+T+t))^(r+x)``: dead customers never buy;
    an alive one has posterior rate ``Gamma(r+x, alpha+T)``, whose Poisson zero-probability
    over ``t`` is that power. Evaluated as ``1 - P_alive * (-expm1((r+x) log u))`` in [0, 1].
    """
    t, x, t_x, T = broadcast(t, x, t_x, T)
    buy_if_alive = -np.expm1(-(params.r + x) * np.log1p(t / (params.alpha + T)))
    prob = _alive_or(alive, params, x, t_x, T)
    return np.asarray(1.0 - prob * buy_if_alive, dtype=np.float64)


def median_days_to_next_purchase(
    params: BgNbdParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike,
    *, alive: ArrayLike | None = None,
) -> FloatArray:
    """The ``t`` at which :func:`prob_no_purchase` reaches 0.5, in the params' time unit.

    Solving ``1 - P (1 - u^(r+x)) = 1/2`` gives
    ``t = (alpha+T) * ((P/(P-1/2))^(1/(r+x)) - 1)``, evaluated with ``expm1``/``log1p``;
    NaN where ``P_alive <= 1/2`` (the customer more likely than not never buys again).
    """
    x, t_x, T = broadcast(x, t_x, T)
    prob = _alive_or(alive, params, x, t_x, T)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = -np.log1p(-0.5 / prob)  # log(P / (P - 1/2))
        days = (params.alpha + T) * np.expm1(log_ratio / (params.r + x))
    return np.asarray(np.where(prob > 0.5, days, np.nan), dtype=np.float64)



def discounted_purchases(
    params: BgNbdParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, *, months: int = 12,
    discount_rate: float = 0.01, days_per_month: float = 30.0, alive: ArrayLike | None = None,
) -> FloatArray:
    """Expected purchases in the next ``months`` months, each month's discounted.

    ``sum_{i=1..months} (E[Y(d i)] - E[Y(d (i-1))]) / (1+k)^i`` with ``d = days_per_month``
    (time unit of ``params``), ``k = discount_rate`` per month and ``E[Y(t)]`` from
    :func:`expected_purchases`: month ``i``'s purchases are discounted by ``i`` whole months
    (end-of-month convention). Times an expected order value, this is the discounted CLV.
    ``alive``: :func:`p_alive` at ``(x, t_x, T)`` when already computed.
    """
    if months < 0:
        raise ValueError("months must be >= 0")
    x, t_x, T = broadcast(x, t_x, T)
    steps = np.arange(1, months + 1, dtype=np.float64).reshape((-1,) + (1,) * x.ndim)
    alive_path = _alive_expectation(params, steps * days_per_month, x, T)  # E at t = 0 is 0
    per_month = np.diff(alive_path, axis=0, prepend=np.zeros((1, *x.shape)))
    per_alive = np.sum(per_month * (1.0 + discount_rate) ** -steps, axis=0)
    return np.asarray(per_alive * _alive_or(alive, params, x, t_x, T), dtype=np.float64)
