"""Today's predictive models in one import: BG/NBD purchases, Gamma-Gamma spend, and their
product, the discounted CLV.

The models live one per module (:mod:`~clv_stream.domain.bgnbd`,
:mod:`~clv_stream.domain.gamma_gamma`); scoring reaches them through the role protocols of
:mod:`~clv_stream.domain.protocols`, not through this module. It stays for code that wants
the reference formulas by name (tests, benchmarks, notebooks).
"""

from __future__ import annotations

from numpy.typing import ArrayLike

from clv_stream.domain.arrays import FloatArray, broadcast
from clv_stream.domain.bgnbd import (
    BgNbdParams,
    bgnbd_log_likelihood,
    discounted_purchases,
    expected_purchases,
    expected_purchases_new,
    median_days_to_next_purchase,
    p_alive,
    prob_no_purchase,
)
from clv_stream.domain.gamma_gamma import (
    GammaGammaParams,
    gg_expected_order_value,
    gg_log_likelihood,
)

__all__ = [
    "BgNbdParams",
    "GammaGammaParams",
    "bgnbd_log_likelihood",
    "discounted_clv",
    "discounted_purchases",
    "expected_purchases",
    "expected_purchases_new",
    "gg_expected_order_value",
    "gg_log_likelihood",
    "median_days_to_next_purchase",
    "p_alive",
    "prob_no_purchase",
]


def discounted_clv(
    bg: BgNbdParams,
    gg: GammaGammaParams,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    m: ArrayLike,
    *,
    months: int = 12,
    discount_rate: float = 0.01,
    days_per_month: float = 30.0,
    margin: ArrayLike = 1.0,
    alive: ArrayLike | None = None,
) -> FloatArray:
    """Discounted expected value of the next ``months`` months, in the currency of ``m``.

    ``CLV = margin * E[Z|x,m] * sum_{i=1..months} (E[Y(d i)] - E[Y(d (i-1))]) / (1+k)^i``:
    :func:`~clv_stream.domain.bgnbd.discounted_purchases` times the Gamma-Gamma order value
    and the margin. With ``margin = 1`` this is ``lifetimes``
    ``_customer_lifetime_value(..., time=months, discount_rate=k, freq="D")``. ``alive``:
    :func:`p_alive` at ``(x, t_x, T)`` when already computed.
    """
    if months < 0:
        raise ValueError("months must be >= 0")
    x, t_x, T, m, margin_arr = broadcast(x, t_x, T, m, margin)
    value = gg_expected_order_value(gg, x, m) * margin_arr
    purchases = discounted_purchases(bg, x, t_x, T, months=months, discount_rate=discount_rate,
                                     days_per_month=days_per_month, alive=alive)
    return purchases * value
