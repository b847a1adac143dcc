"""The three roles a CLV model plays, as protocols scoring and fitting program against.

A model of a role is a frozen dataclass of its parameters with these methods; which one
a :class:`~clv_stream.domain.model.ScoringModel` uses is named by its kind in
:mod:`~clv_stream.domain.kinds`. All methods are vectorised (arguments broadcast as numpy
does, float64 arrays back) and pure; inputs follow the conventions of
:mod:`~clv_stream.domain.bgnbd`: ``x`` repeat purchases, ``t_x`` the last one's time and ``T``
the age, both from the first purchase, in the model's time unit.
"""

from __future__ import annotations

from typing import Protocol

from numpy.typing import ArrayLike

from clv_stream.domain.arrays import FloatArray

__all__ = ["PurchaseModel", "RetentionModel", "SpendModel"]


class PurchaseModel(Protocol):
    """How often a customer buys and whether they are still a customer (non-contractual:
    the drop-out is never observed). BG/NBD today; MBG/NBD or Pareto/NBD would fit here.

    ``alive``, where accepted, is :meth:`p_alive` at the same ``(x, t_x, T)``, passed when
    the caller already has it so it is computed once per batch.
    """

    def p_alive(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
        """Probability the customer is still alive at ``T``."""
        ...

    def expected_purchases(self, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, *,
                           alive: ArrayLike | None = None) -> FloatArray:
        """Expected purchases in ``(T, T+t]``."""
        ...

    def prob_no_purchase(self, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, *,
                         alive: ArrayLike | None = None) -> FloatArray:
        """Probability of no purchase in ``(T, T+t]`` (the churn risk)."""
        ...

    def median_time_to_next_purchase(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, *,
                                     alive: ArrayLike | None = None) -> FloatArray:
        """The ``t`` at which :meth:`prob_no_purchase` reaches 1/2; NaN where it never does."""
        ...

    def discounted_purchases(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, *, periods: int,
                             period: float, discount_rate: float,
                             alive: ArrayLike | None = None) -> FloatArray:
        """Expected purchases in the next ``periods`` periods of length ``period``, those of
        period ``i`` discounted by ``(1 + discount_rate)^i``: times an expected order value
        and a margin, the predicted CLV."""
        ...


class SpendModel(Protocol):
    """What a customer's orders are worth, independent of how often they come. Gamma-Gamma
    today."""

    def expected_order_value(self, x: ArrayLike, m: ArrayLike) -> FloatArray:
        """Expected value of a future order given ``x`` repeat orders of mean value ``m``
        (``m`` unused where ``x == 0``: the population mean)."""
        ...


class RetentionModel(Protocol):
    """Contractual retention: subscriptions, where a churn is observed (a renewal that does
    not come). The shifted-beta-geometric (sBG, Fader & Hardie 2007) of kinds ``sbg`` and
    ``sbg_cohorts`` (:mod:`~clv_stream.domain.sbg`).

    Time is counted in renewal periods; ``renewals`` is the number of renewals a customer
    has made so far (0 right after the first payment), still subscribed, valued right
    after that latest payment: the next payment is one period away.
    """

    def retention_probability(self, renewals: ArrayLike) -> FloatArray:
        """Probability of the next renewal, given ``renewals`` so far."""
        ...

    def expected_renewals(self, periods: ArrayLike, renewals: ArrayLike) -> FloatArray:
        """Expected renewals within the next ``periods`` periods (whole periods: a
        fraction of one adds no renewal)."""
        ...

    def discounted_residual_lifetime(self, renewals: ArrayLike,
                                     discount_rate: float) -> FloatArray:
        """DERL: the expected number of future payments, the one ``i`` periods from now
        (``i = 1`` the next renewal) discounted by ``(1 + discount_rate)^i``; the current,
        paid period is excluded. ``discount_rate`` is per renewal period. Times the payment
        and margin, a subscriber's residual CLV. (Fader & Hardie 2010's DERL leaves the next
        renewal undiscounted: theirs is this times ``1 + discount_rate``.)"""
        ...
