"""A subscriber's value: paid revenue, MRR, and the contractual model's prediction.

Per subscription still renewing (``active``; a ``cancelling`` one has no renewal to come):
the retention model (the sBG, per cohort when fitted so) gives the probability of the next
renewal, the renewals expected within the horizon, and the discounted expected residual
lifetime (DERL: future payments, the current paid period excluded, each discounted by the
monthly ``CLV_DISCOUNT_RATE`` compounded to the billing interval). Its predicted value is
DERL x the current amount x the subscription's margin. A customer's figures add up its
subscriptions'; ``retention_probability`` is that of its largest (by MRR) renewing one.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from clv_stream.domain.money import money_text
from clv_stream.domain.mrr import ZERO, Mrr
from clv_stream.domain.protocols import RetentionModel
from clv_stream.domain.subscriptions import SubscriptionState
from clv_stream.events.times import iso

__all__ = ["SEGMENT_CODES", "SubscriberValue", "months_per_period", "subscriber_values"]

#: Average days in a month (365.25 / 12): how day and week intervals count in months.
_DAYS_PER_MONTH = 365.25 / 12
#: ``subscription`` segment labels, by code (0: no subscription, no label).
SEGMENT_CODES = ("", "active", "cancelling", "churned", "reactivated")


def months_per_period(unit: str, count: int) -> float:
    """The length of a billing period in months."""
    per = {"month": 1.0, "year": 12.0, "week": 7 / _DAYS_PER_MONTH, "day": 1 / _DAYS_PER_MONTH}
    return per[unit] * count


@dataclass(frozen=True, slots=True)
class SubscriberValue:
    """One customer's subscription figures (money in minor units of its currency)."""

    revenue_minor: int  # every payment so far
    profit_minor: int  # payments x their subscription's margin, rounded once
    predicted_minor: float  # predicted_subscription_clv
    mrr: Mrr
    active: int  # subscriptions paid up now (renewing or cancelling)
    renewals: int
    first_started_at: int | None
    retention_probability: float | None
    expected_renewals: float
    segment: int  # index into SEGMENT_CODES
    next_change_at: int | None  # when a subscription next changes with time alone

    def fields(self, decimals: int) -> dict[str, Any]:
        """``CustomerValue.subscription`` (JSON-ready)."""
        return {
            "active_subscriptions": self.active,
            "mrr": money_text(self.mrr.to_minor(), decimals),
            "first_started_at": None if self.first_started_at is None
            else iso(self.first_started_at),
            "renewals": self.renewals,
            "retention_probability": None if self.retention_probability is None
            else round(self.retention_probability, 6),
            "expected_renewals": round(self.expected_renewals, 6),
            "predicted_subscription_clv": f"{self.predicted_minor / 10**decimals:.{decimals}f}",
        }


def subscriber_values(customers: Sequence[Mapping[str, SubscriptionState] | None],
                      model: RetentionModel, horizon_months: int, monthly_discount: float,
                      default_margin_bp: int) -> list[SubscriberValue | None]:
    """The figures of each customer's subscriptions (None for a customer without any).

    The retention model is evaluated once per (cohort model, billing period) over every
    renewing subscription of the batch, not once per subscription: its DERL is an iterative
    sum whose cost is per call, not per subscriber.
    """
    rows: list[tuple[int, SubscriptionState, RetentionModel, float]] = []
    model_of = getattr(model, "of", None)  # a per-cohort model picks the subscription's
    for i, subs in enumerate(customers):
        for s in (subs or {}).values():
            if s.status == "active" and s.unit is not None and s.interval_count is not None:
                own = model_of(s.cohort) if callable(model_of) else model
                rows.append((i, s, own, months_per_period(s.unit, s.interval_count)))
    figures = _retention_figures(rows, horizon_months, monthly_discount)
    per_customer: dict[int, list[tuple[SubscriptionState, float, float, float]]] = {}
    for (i, s, _, _), found in zip(rows, figures, strict=True):
        per_customer.setdefault(i, []).append((s, *found))
    return [None if not subs else _value(subs, per_customer.get(i, []), default_margin_bp)
            for i, subs in enumerate(customers)]


def _retention_figures(rows: Sequence[tuple[int, SubscriptionState, RetentionModel, float]],
                       horizon_months: int, monthly_discount: float,
                       ) -> list[tuple[float, float, float]]:
    """(DERL, expected renewals within the horizon, probability of the next renewal) per row,
    one model call per (model, period length)."""
    groups: dict[tuple[int, float], list[int]] = {}
    for j, (_, _, own, period) in enumerate(rows):
        groups.setdefault((id(own), period), []).append(j)
    out: list[tuple[float, float, float]] = [(0.0, 0.0, 0.0)] * len(rows)
    for (_, period), members in groups.items():
        own = rows[members[0]][2]
        renewals = np.array([float(rows[j][1].renewals) for j in members])
        d = (1 + monthly_discount) ** period - 1
        derl = _derl(own, renewals, d)
        horizon = np.full(len(members), float(int(horizon_months // period)))
        expected = own.expected_renewals(horizon, renewals)
        retention = own.retention_probability(renewals)
        for k, j in enumerate(members):
            out[j] = (float(derl[k]), float(expected[k]), float(retention[k]))
    return out


#: DERL by (model, per-period discount, renewals): a pure function of few distinct arguments,
#: costly per evaluation (a continued fraction); cleared whole when full.
_DERL_MEMO: dict[tuple[RetentionModel, float, float], float] = {}
_DERL_MEMO_LIMIT = 100_000


def _derl(model: RetentionModel, renewals: np.ndarray[Any, np.dtype[np.float64]],
          d: float) -> list[float]:
    if not isinstance(model, Hashable):
        return [float(v) for v in model.discounted_residual_lifetime(renewals, d)]
    memo = _DERL_MEMO
    wanted = renewals.tolist()
    missing = sorted({r for r in wanted if (model, d, r) not in memo})
    if missing:
        if len(memo) + len(missing) > _DERL_MEMO_LIMIT:
            memo.clear()
        found = model.discounted_residual_lifetime(np.array(missing), d)
        memo.update(((model, d, r), float(v)) for r, v in zip(missing, found, strict=True))
    return [memo[(model, d, r)] for r in wanted]


def _value(states: Mapping[str, SubscriptionState],
           renewing: list[tuple[SubscriptionState, float, float, float]],
           default_margin_bp: int) -> SubscriberValue:
    revenue = profit = renewals = active = 0
    mrr, first, due, churned = ZERO, None, None, False
    for s in states.values():
        revenue += s.paid_minor
        profit += _profit(s.paid_minor, _margin(s, default_margin_bp))
        renewals += s.renewals
        if s.status in ("active", "cancelling"):
            active += 1
            mrr += s.mrr
        churned = churned or s.status == "churned"
        if s.started_at is not None and (first is None or s.started_at < first):
            first = s.started_at
        t = s.next_change_at
        if t is not None and (due is None or t < due):
            due = t
    predicted = sum(derl * (s.amount_minor or 0) * _margin(s, default_margin_bp) / 10_000
                    for s, derl, _, _ in renewing)
    expected = sum(e for _, _, e, _ in renewing)
    best = renewing[0] if len(renewing) == 1 else max(renewing, key=lambda r: r[0].mrr.value,
                                                      default=None)
    # the subscription segment: renewing (reactivated, if any renewing one was), else
    # cancelling while a run is paid up, else churned, else none
    segment = (4 if any(s.reactivations for s, *_ in renewing) else 1) if renewing else \
        2 if active else 3 if churned else 0
    return SubscriberValue(revenue, profit, predicted, mrr, active, renewals, first,
                           None if best is None else best[3], expected, segment, due)


def _margin(state: SubscriptionState, default_bp: int) -> int:
    return default_bp if state.margin_bp is None else state.margin_bp


def _profit(minor: int, margin_bp: int) -> int:
    return (minor * margin_bp + 5000) // 10_000  # as apply_batch.lua's profit_of


