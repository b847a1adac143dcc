"""Maximum-likelihood fits of BG/NBD and Gamma-Gamma, fast enough for millions of customers.

Both fits minimise the *mean* negative log-likelihood over log-parameters (so every parameter
stays positive) with L-BFGS-B and an analytic gradient. The data are first compressed:

* customers are grouped into unique rows (``np.unique`` on an integer key built from the
  per-column codes) with their counts as weights;
* the terms that depend on ``x`` alone (``gammaln``, ``betaln``, ``digamma``) are evaluated
  once per distinct ``x``, and the ``x == 0`` BG/NBD rows, which depend on ``T`` alone, once per
  distinct ``T``.

Each evaluation therefore costs two transcendental functions (one ``exp``, one ``log``) and
a few arithmetic passes over the distinct ``(x, t_x, T)`` rows (``(x, m)`` for Gamma-Gamma),
the logs of ``alpha + t`` being taken per distinct ``t`` and gathered. Reductions run
single-threaded (see :func:`~clv_stream.domain.mle.dot`). That is what makes this far
faster than ``lifetimes`` (autograd through every customer's terms). Time unit: that of
``t_x`` and ``T`` (days in the product); see :mod:`~clv_stream.domain.bgnbd` and
:mod:`~clv_stream.domain.gamma_gamma` for the models and conventions, and
:mod:`~clv_stream.domain.mle` for the optimiser. Each fitter is registered with its kind
in :mod:`~clv_stream.domain.kinds`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from itertools import pairwise
from typing import TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import betaln, digamma, gammaln

from clv_stream.domain.bgnbd import BgNbdParams
from clv_stream.domain.gamma_gamma import GammaGammaParams
from clv_stream.domain.mle import (
    FitResult,
    Objective,
    codes,
    column,
    dot,
    fit_log_params,
    unique_rows,
)
from clv_stream.exceptions import ModelError

__all__ = [
    "BgNbdFit",
    "FitResult",
    "GammaGammaFit",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "value_tier_cuts",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
BgNbdFit: TypeAlias = FitResult[BgNbdParams]
GammaGammaFit: TypeAlias = FitResult[GammaGammaParams]


@dataclass(frozen=True, slots=True)
class _BgNbdData:
    """BG/NBD data grouped as described in the module docstring."""

    n: int
    x_vals: FloatArray  # distinct x (all customers) and their counts
    x_counts: FloatArray
    zero_T: FloatArray  # distinct T of the x == 0 customers, and their counts
    zero_w: FloatArray
    rx_vals: FloatArray  # distinct x > 0, t_x, T of repeat customers ...
    t_vals: FloatArray
    T_vals: FloatArray
    ix: IntArray  # ... and, per distinct (x, t_x, T) row, indexes into them,
    it: IntArray
    iT: IntArray
    x: FloatArray  # the row's x, t_x, T, count and count * x
    t_x: FloatArray
    T: FloatArray
    w: FloatArray
    wx: FloatArray


def _bgnbd_data(x: FloatArray, t_x: FloatArray, T: FloatArray) -> _BgNbdData:
    """Validate (``ModelError`` on bad input) and group the data for the objective."""
    if x.size == 0 or not (x.size == t_x.size == T.size):
        raise ModelError(f"need equal, non-empty x, t_x, T; got {x.size}, {t_x.size}, {T.size}")
    if np.any(x < 0) or np.any(x != np.round(x)):
        raise ModelError("x must be non-negative integers")
    if np.any(t_x < 0) or np.any(t_x > T) or np.any(t_x[x == 0] != 0):
        raise ModelError("need 0 <= t_x <= T, and t_x == 0 where x == 0")
    rep = x > 0
    if not np.any(rep):
        raise ModelError("no repeat purchases: BG/NBD cannot be fitted")
    x_vals, x_counts = np.unique(x, return_counts=True)
    zero_T, zero_w = np.unique(T[~rep], return_counts=True)
    (xv, ix), (tv, it), (Tv, iT) = codes(x[rep]), codes(t_x[rep]), codes(T[rep])
    first, w = unique_rows(ix, it, iT)
    ix, it, iT = ix[first], it[first], iT[first]
    return _BgNbdData(
        n=x.size, x_vals=x_vals, x_counts=x_counts.astype(np.float64), zero_T=zero_T,
        zero_w=zero_w.astype(np.float64), rx_vals=xv, t_vals=tv, T_vals=Tv, ix=ix, it=it, iT=iT,
        x=xv[ix], t_x=tv[it], T=Tv[iT], w=w, wx=w * xv[ix],
    )


def _bgnbd_common(
    d: _BgNbdData, r: float, alpha: float, a: float, b: float
) -> tuple[float, FloatArray]:
    """Total and gradient of the terms depending on ``x`` only, and of the ``x == 0`` rows.

    ``H(x) = lnG(r+x) - lnG(r) + r log alpha + lnB(a, b+x) - lnB(a, b)`` per distinct ``x``;
    an ``x == 0`` customer adds ``A3 = -r log(alpha+T)``.
    """
    xv, nx = d.x_vals, d.x_counts
    head = gammaln(r + xv) - gammaln(r) + r * np.log(alpha) + betaln(a, b + xv) - betaln(a, b)
    psi_ab = digamma(a + b) - digamma(a + b + xv)
    log_T0 = np.log(alpha + d.zero_T)
    grad = np.array([
        nx @ (digamma(r + xv) - digamma(r) + np.log(alpha)) - d.zero_w @ log_T0,
        d.n * r / alpha - r * (d.zero_w @ (1.0 / (alpha + d.zero_T))),
        nx @ psi_ab,
        nx @ (digamma(b + xv) - digamma(b) + psi_ab),
    ])
    return float(nx @ head - r * (d.zero_w @ log_T0)), grad


def _bgnbd_objective(d: _BgNbdData) -> Objective:
    """Mean negative BG/NBD log-likelihood and its gradient in ``log(r, alpha, a, b)``.

    A repeat row adds ``A3 + softplus(delta)`` to :func:`_bgnbd_common`, where
    ``A3 = -(r+x) log(alpha+T)``, ``delta = A4 - A3 = log(a/(b+x-1)) - (r+x) D`` and
    ``D = log((alpha+t_x)/(alpha+T))``. With ``w4 = expit(delta)`` the gradient is
    ``(1-w4) dA3 + w4 dA4``: ``d/dr = -log(alpha+T) - w4 D``,
    ``d/dalpha = -(r+x) ((1-w4)/(alpha+T) + w4/(alpha+t_x))``, ``d/da = w4/a``,
    ``d/db = -w4/(b+x-1)``. Logs of ``alpha + t`` are taken per distinct ``t`` and gathered;
    ``softplus`` and ``expit`` share one ``exp``.
    """

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        r, alpha, a, b = (float(v) for v in np.exp(theta))
        total, grad = _bgnbd_common(d, r, alpha, a, b)
        log_T = np.log(alpha + d.T_vals)[d.iT]
        diff = np.log(alpha + d.t_vals)[d.it] - log_T
        k = r + d.x
        delta = (np.log(a) - np.log(b + d.rx_vals - 1.0))[d.ix] - k * diff
        e = np.exp(-np.abs(delta))
        inv = 1.0 / (1.0 + e)
        ww4 = d.w * np.where(delta >= 0.0, inv, e * inv)
        softplus = np.maximum(delta, 0.0) - np.log(inv)
        w_log_T = dot(d.w, log_T)
        total += dot(d.w, softplus) - r * w_log_T - dot(d.wx, log_T)
        grad -= np.array([
            w_log_T + dot(ww4, diff),
            dot(k * (d.w - ww4), 1.0 / (alpha + d.T)) + dot(k * ww4, 1.0 / (alpha + d.t_x)),
            -float(ww4.sum()) / a,
            dot(ww4, (1.0 / (b + d.rx_vals - 1.0))[d.ix]),
        ])
        return -total / d.n, -grad * np.array([r, alpha, a, b]) / d.n

    return objective


def fit_bgnbd(
    x: ArrayLike, t_x: ArrayLike, T: ArrayLike, *, initial: BgNbdParams | None = None
) -> BgNbdFit:
    """Fit BG/NBD by maximum likelihood to repeat counts ``x``, recency ``t_x`` and age ``T``.

    ``alpha`` comes out in the time unit of ``t_x``/``T``. Without ``initial`` the search starts
    at ``r = a = b = 1`` and ``alpha = sum(T) / sum(x)`` (population purchase interval).
    Raises :class:`ModelError` on empty/invalid input, data without repeat buyers, or a
    failed/degenerate optimisation.
    """
    started = time.perf_counter()
    xa, ta, Ta = column("x", x), column("t_x", t_x), column("T", T)
    data = _bgnbd_data(xa, ta, Ta)
    if initial is None:
        alpha0 = max(float(Ta.sum()), 1e-9) / float(xa.sum())
        initial = BgNbdParams(r=1.0, alpha=alpha0, a=1.0, b=1.0)
    start = np.log([initial.r, initial.alpha, initial.a, initial.b])
    opt = fit_log_params(_bgnbd_objective(data), start, data.n)
    r, alpha, a, b = (float(v) for v in np.exp(opt.theta))
    return FitResult(BgNbdParams(r=r, alpha=alpha, a=a, b=b), opt.log_likelihood, opt.converged,
                     opt.iterations, data.n, time.perf_counter() - started, opt.message)


def _gg_objective(x: FloatArray, m: FloatArray, w: FloatArray) -> Objective:
    """Mean negative Gamma-Gamma log-likelihood and its gradient in ``log(p, q, v)``.

    ``ll = lnG(px+q) - lnG(px) - lnG(q) + q log v + p x log(x m) - log m - (px+q) log(x m + v)``;
    ``d/dp = x (psi(px+q) - psi(px)) + x log(x m) - x log(xm+v)``,
    ``d/dq = psi(px+q) - psi(q) + log v - log(xm+v)``, ``d/dv = q/v - (px+q)/(xm+v)``.
    Gamma functions are evaluated per distinct ``x``; a row costs one ``log`` per evaluation.
    """
    xv, ix = codes(x)
    nx = np.bincount(ix, weights=w)
    n = float(w.sum())
    spend, wx = x * m, w * x
    sum_s, sum_log_m = float(wx @ np.log(spend)), float(w @ np.log(m))

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        p, q, v = (float(val) for val in np.exp(theta))
        pxq = p * xv + q
        head = gammaln(pxq) - gammaln(p * xv) - gammaln(q) + q * np.log(v)
        psi = digamma(pxq)
        log_sv = np.log(spend + v)
        inv_sv = 1.0 / (spend + v)
        wx_log, w_log = dot(wx, log_sv), dot(w, log_sv)
        total = float(nx @ head) + p * sum_s - sum_log_m - p * wx_log - q * w_log
        grad = np.array([
            nx @ (xv * (psi - digamma(p * xv))) + sum_s - wx_log,
            nx @ (psi - digamma(q) + np.log(v)) - w_log,
            n * q / v - p * dot(wx, inv_sv) - q * dot(w, inv_sv),
        ])
        return -total / n, -grad * np.array([p, q, v]) / n

    return objective


def fit_gamma_gamma(x: ArrayLike, m: ArrayLike) -> GammaGammaFit:
    """Fit Gamma-Gamma to repeat counts ``x`` and mean repeat-order values ``m``.

    Only customers with ``x > 0`` are used (``m`` is ignored elsewhere), as in ``lifetimes``.
    Raises :class:`ModelError` on no such customers, non-positive ``m`` among them, a failed
    optimisation, or ``q <= 1`` (population mean order value ``p v / (q-1)`` undefined).
    """
    started = time.perf_counter()
    xa, ma = column("x", x), np.asarray(m, dtype=np.float64).ravel()
    if xa.size != ma.size:
        raise ModelError(f"x and m differ in size: {xa.size} != {ma.size}")
    rep = xa > 0
    xr, mr = xa[rep], ma[rep]
    if xr.size == 0:
        raise ModelError("no customers with repeat purchases: Gamma-Gamma cannot be fitted")
    if not np.all(np.isfinite(mr) & (mr > 0)):
        raise ModelError("m must be finite and > 0 where x > 0")
    first, w = unique_rows(codes(xr)[1], codes(mr)[1])
    objective = _gg_objective(xr[first], mr[first], w)
    start = np.log([1.0, 2.0, float(mr.mean())])
    opt = fit_log_params(objective, start, xr.size)
    p, q, v = (float(val) for val in np.exp(opt.theta))
    if q <= 1.0:
        raise ModelError(f"Gamma-Gamma fit has q = {q:.4g} <= 1: mean order value undefined")
    return FitResult(GammaGammaParams(p=p, q=q, v=v), opt.log_likelihood, opt.converged,
                     opt.iterations, xr.size, time.perf_counter() - started, opt.message)


def value_tier_cuts(
    values: ArrayLike, quantiles: tuple[float, float, float] = (0.5, 0.8, 0.95)
) -> tuple[float, float, float]:
    """Cut points between value tiers: the given quantiles of the finite ``values``.

    Linear interpolation between order statistics (numpy's default, Hyndman-Fan type 7), so
    the same values always give the same cuts, whatever their order.
    """
    arr = np.asarray(values, dtype=np.float64).ravel()
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        raise ModelError("no finite values to cut into tiers")
    if not all(0.0 <= lo < hi <= 1.0 for lo, hi in pairwise(quantiles)):
        raise ModelError(f"quantiles must be increasing within [0, 1]: {quantiles}")
    lo, mid, hi = (float(c) for c in np.quantile(np.sort(arr), quantiles))
    return lo, mid, hi
