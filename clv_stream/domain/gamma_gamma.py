"""Gamma-Gamma spend model (Fader, Hardie & Lee 2005b, "RFM and CLV: using iso-value
curves", with the note http://brucehardie.com/notes/025/).

The value of each order is ``Gamma(p, nu)`` with ``nu ~ Gamma(q, v)`` (rates), independent of
the purchase process. ``x`` is the number of repeat orders and ``m`` their mean value
(ignored where ``x == 0``), as in :mod:`~clv_stream.domain.bgnbd`. Results equal
``lifetimes`` 0.11.3 ``GammaGammaFitter``'s. :class:`GammaGammaParams` is the
:class:`~clv_stream.domain.protocols.SpendModel` of kind ``gamma_gamma``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import gammaln, xlogy

from clv_stream.domain.arrays import FloatArray, broadcast, check_positive

__all__ = ["GammaGammaParams", "gg_expected_order_value", "gg_log_likelihood"]


@dataclass(frozen=True, slots=True)
class GammaGammaParams:
    """Gamma-Gamma parameters; the population mean order value is ``p * v / (q - 1)`` (q > 1)."""

    DEFAULT: ClassVar[GammaGammaParams]

    p: float
    q: float
    v: float

    def __post_init__(self) -> None:
        check_positive("GammaGammaParams", p=self.p, q=self.q, v=self.v)

    def expected_order_value(self, x: ArrayLike, m: ArrayLike) -> FloatArray:
        return gg_expected_order_value(self, x, m)


#: CDNOW spend (Fader, Hardie & Lee 2005b): p=6.25, q=3.74, v=15.44 (dollars; unit-free in time).
GammaGammaParams.DEFAULT = GammaGammaParams(p=6.25, q=3.74, v=15.44)


def gg_expected_order_value(params: GammaGammaParams, x: ArrayLike, m: ArrayLike) -> FloatArray:
    """Posterior mean order value ``E[Z | x, m] = p (v + x m) / (p x + q - 1)`` (note 025 eq. 5).

    A credibility-weighted mean of the customer's ``m`` and the population mean
    ``p v / (q - 1)``, which is returned for ``x == 0`` (``m`` unused there). Needs ``q > 1``.
    Same as ``lifetimes`` ``conditional_expected_average_profit(x, m)``.
    """
    x, m = broadcast(x, m)
    p, q, v = params.p, params.q, params.v
    spend = np.where(x > 0, x * m, 0.0)
    return np.asarray(p * (v + spend) / (p * x + q - 1.0), dtype=np.float64)


def gg_log_likelihood(params: GammaGammaParams, x: ArrayLike, m: ArrayLike) -> FloatArray:
    """Per-customer Gamma-Gamma log-likelihood of the mean order value ``m`` of ``x`` orders.

    ``log L = lnG(px+q) - lnG(px) - lnG(q) + q log v + (px-1) log m + px log x
    - (px+q) log(x m + v)`` (density of ``m``); 0 for ``x == 0`` (no order values observed).
    """
    x, m = broadcast(x, m)
    p, q, v = params.p, params.q, params.v
    px = p * x
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = (
            gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v)
            + (px - 1.0) * np.log(m) + xlogy(px, x) - (px + q) * np.log(x * m + v)
        )
    return np.asarray(np.where(x > 0, ll, 0.0), dtype=np.float64)

