"""Aggregates -> ``CustomerValue`` records, for a whole batch at once (numpy, no I/O).

Historic figures are exact (integers in minor units, formatted as decimal strings); model
figures are floats, rounded to the currency's minor unit only when formatted.

Definitions (see also the README):

* ``historic_clv`` = gross profit so far = sum over counting orders of net x margin.
* ``traditional_clv`` = average order value x purchases per year x ``lifespan_years`` x margin,
  with purchases per year = orders / max(1, age in years); the floor keeps a customer who
  is a few days old from being annualised from those days.
* ``predicted_clv`` = the purchase model's discounted expected purchases over the next
  ``horizon_months`` (30-day months, monthly ``discount_rate``, as lifetimes) x the spend
  model's expected order value x margin (BG/NBD and Gamma-Gamma unless the model says else).
* ``churn_risk`` = P(no order in the next 90 days); ``expected_next_order_at`` = as_of + the
  median wait to the next order, or null when that is beyond the horizon.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from clv_stream.domain.aggregate import SECONDS_PER_DAY, Summary
from clv_stream.domain.inputs import ModelInputs, model_inputs
from clv_stream.domain.model import ScoringModel
from clv_stream.domain.money import money_text
from clv_stream.domain.months import month_of
from clv_stream.domain.subscription_value import SubscriberValue
from clv_stream.events.times import iso  # re-exported: formatting lives with parsing

__all__ = ["ValueConfig", "add_channels", "churn_band", "iso", "score"]

FloatArray = npt.NDArray[np.float64]
CHURN_WINDOW_DAYS = 90.0
DAYS_PER_MONTH = 30.0


@dataclass(frozen=True, slots=True)
class ValueConfig:
    """The settings scoring depends on (a slice of :class:`~clv_stream.settings.Settings`)."""

    decimals: int = 2
    lifespan_years: float = 3.0
    horizon_months: int = 12
    discount_rate: float = 0.01
    default_margin_bp: int = 10000


def churn_band(risk: float) -> str:
    """The contract's band of a churn risk; applied to the published (6-place) risk, so a
    consumer re-banding ``churn_risk`` gets the same answer."""
    if risk < 0.33:
        return "low"
    return "medium" if risk <= 0.66 else "high"


def score(
    summaries: Sequence[Summary],
    as_of: float | Sequence[float],
    model: ScoringModel,
    cfg: ValueConfig,
    subscribers: Sequence[SubscriberValue | None] | None = None,
) -> list[dict[str, Any]]:
    """One ``CustomerValue`` dict (JSON-ready, money as decimal strings) per summary.

    ``as_of`` (epoch seconds) is one time for all, or one per summary. ``subscribers``: each
    customer's subscription figures (None: it has no subscription), which add to its
    historic and total CLV (:mod:`~clv_stream.domain.subscription_value`).
    """
    if not summaries:
        return []
    times = np.broadcast_to(np.asarray(as_of, dtype=np.float64), (len(summaries),))
    inputs = model_inputs(summaries, times, cfg.decimals, cfg.default_margin_bp / 1e4)
    pred = _predict(inputs, model, cfg)
    records = _records(summaries, inputs, pred, times, cfg)
    for record, summary, sub in zip(records, summaries, subscribers or (), strict=False):
        if sub is not None:
            _add_subscriptions(record, summary, sub, cfg.decimals)
    if model.clv_quantiles:
        totals = np.array([float(r["total_clv"]) for r in records], dtype=np.float64)
        reached = np.searchsorted(np.asarray(model.clv_quantiles), totals, side="right")
        for record, percentile in zip(records, reached.tolist(), strict=True):
            record["clv_percentile"] = percentile
    return records


def add_channels(records: Sequence[dict[str, Any]], channels: Sequence[str]) -> None:
    """Each customer's acquisition channel (as the store keeps it, "" for none given) into
    its record: "unknown" when none was given, null without a counting order."""
    for record, channel in zip(records, channels, strict=True):
        if record["orders"]:
            record["acquisition_channel"] = channel or "unknown"


def _add_subscriptions(record: dict[str, Any], summary: Summary, sub: SubscriberValue,
                       d: int) -> None:
    """Paid subscription revenue joins the historic CLV; the sBG's prediction, the total."""
    historic = summary.profit_minor + sub.profit_minor
    record["historic_clv"] = money_text(historic, d)
    total = historic / 10.0**d + float(record["predicted_clv"]) + sub.predicted_minor / 10.0**d
    record["total_clv"] = f"{total:.{d}f}"
    record["subscription_revenue"] = money_text(sub.revenue_minor, d)
    record["subscription"] = sub.fields(d)


def _predict(inputs: ModelInputs, model: ScoringModel, cfg: ValueConfig) -> dict[str, Any]:
    """Model figures per customer, through the model's purchase and spend roles.

    The purchase terms depend on ``(x, t_x, T)`` only, whole days: they are computed once per
    distinct triple and spread (a batch's new customers all share ``(0, 0, T)``), which
    spares most of the work (BG/NBD's hypergeometric function calls). Discounted CLV is the
    per-triple discounted purchases times the expected order value and the margin, per customer.
    """
    unit = model.time_unit_days
    uniq, inv = _distinct_triples(inputs.x, inputs.t_x, inputs.T)
    x, t_x, big_t = uniq[:, 0], uniq[:, 1] / unit, uniq[:, 2] / unit
    buys = model.purchases
    horizon_days = cfg.horizon_months * DAYS_PER_MONTH
    alive = buys.p_alive(x, t_x, big_t)  # once, for every figure below that needs it
    per_value = buys.discounted_purchases(
        x, t_x, big_t, periods=cfg.horizon_months, period=DAYS_PER_MONTH / unit,
        discount_rate=cfg.discount_rate, alive=alive,
    )
    wait = buys.median_time_to_next_purchase(x, t_x, big_t, alive=alive)[inv] * unit
    active = inputs.active
    aov = model.spend.expected_order_value(inputs.x, inputs.m)
    clv = per_value[inv] * aov * inputs.margin
    expected = buys.expected_purchases(horizon_days / unit, x, t_x, big_t, alive=alive)
    risk = buys.prob_no_purchase(CHURN_WINDOW_DAYS / unit, x, t_x, big_t, alive=alive)
    return {
        "p_alive": np.where(active, alive[inv], 0.0),
        "expected": np.where(active, expected[inv], 0.0),
        "aov": np.where(active, aov, 0.0),
        "clv": np.where(active, np.nan_to_num(clv), 0.0),
        "risk": np.where(active, risk[inv], 1.0),
        "wait": np.where(active & np.isfinite(wait) & (wait <= horizon_days), wait, np.nan),
    }


_FIELD_BITS = 21  # whole days (5,700 years) or purchase days per field of a packed triple
_SMALL_BATCH = 64  # customers up to which distinct triples are found without numpy


def _distinct_triples(x: FloatArray, t_x: FloatArray, big_t: FloatArray,
                      ) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """The distinct ``(x, t_x, T)`` rows in lexicographic order, and each customer's row,
    as ``np.unique(axis=0, return_inverse=True)``. The three are whole numbers, so each
    triple is packed into one int64 and made unique as that (much faster than
    ``axis=0``, which sorts the rows as structured values); values that do not pack
    (negative, or 2**21 or more) take the general path."""
    if len(x) <= _SMALL_BATCH:  # numpy's fixed cost is most of it: plain Python
        rows = list(zip(x.tolist(), t_x.tolist(), big_t.tolist(), strict=True))
        distinct = sorted(set(rows))
        where = {row: i for i, row in enumerate(distinct)}
        return (np.array(distinct, dtype=np.float64).reshape(-1, 3),
                np.array([where[row] for row in rows], dtype=np.intp))
    triples = np.stack([x, t_x, big_t], axis=1)
    if triples.min() < 0 or triples.max() >= 2**_FIELD_BITS:
        uniq, inv = np.unique(triples, axis=0, return_inverse=True)
        return uniq, inv.reshape(-1)
    packed = triples.astype(np.int64)
    key = (packed[:, 0] << 2 * _FIELD_BITS) | (packed[:, 1] << _FIELD_BITS) | packed[:, 2]
    _, first, inv = np.unique(key, return_index=True, return_inverse=True)
    return triples[first], inv.reshape(-1)




def _ratio_money(numerator_minor: int, denominator: int, decimals: int) -> str:
    """``numerator / denominator`` minor units, rounded half-even to a minor unit, exactly
    (as ``Decimal`` quantize with ``ROUND_HALF_EVEN``; no float in between)."""
    if denominator <= 0:
        return money_text(0, decimals)
    q, r = divmod(numerator_minor, denominator)
    if 2 * r > denominator or (2 * r == denominator and q % 2):
        q += 1
    return money_text(q, decimals)


def _records(
    summaries: Sequence[Summary], inputs: ModelInputs, pred: dict[str, Any], as_of: FloatArray,
    cfg: ValueConfig,
) -> list[dict[str, Any]]:
    """The JSON-ready records, from columns turned into Python lists once (no numpy scalars).

    Model probabilities are rounded to 6 places by numpy (``round(x, 6)`` per value costs
    more than numpy's for all; they differ only on exact binary ties, which these irrational
    values do not hit); ``average_days_between_orders``, a ratio of small integers where
    ties are common, keeps Python's correctly rounded ``round``. Money is formatted exactly
    from integers, or with ``:.{d}f`` from floats.
    """
    d = cfg.decimals
    unit = 10.0**d
    zero = money_text(0, d)
    x = inputs.x
    years = np.maximum(1.0, inputs.T.astype(np.int64) / 365.25)
    profit = np.array([s.profit_minor for s in summaries], dtype=np.float64)
    rows = zip(
        summaries, x.tolist(), inputs.t_x.tolist(), inputs.T.tolist(),
        (profit / years * cfg.lifespan_years / unit).tolist(), (profit / unit).tolist(),
        np.round(pred["p_alive"], 6).tolist(), np.round(pred["expected"], 6).tolist(),
        pred["aov"].tolist(), pred["clv"].tolist(),
        np.round(pred["risk"], 6).tolist(), (as_of + pred["wait"] * SECONDS_PER_DAY).tolist(),
        strict=True,
    )
    return [
        {
            "orders": s.orders,
            "net_revenue": money_text(s.net_minor, d),
            "first_order_at": iso(s.first_ts) if s.orders else None,
            "last_order_at": iso(s.last_ts) if s.orders else None,
            "frequency": int(x),
            "recency_days": int(t_x),
            "age_days": int(age),
            "average_order_value": _ratio_money(s.net_minor, s.orders, d),
            "average_days_between_orders": round(t_x / x, 4) if x else None,
            "historic_clv": money_text(s.profit_minor, d),
            "traditional_clv": f"{trad:.{d}f}",
            "p_alive": alive,
            "expected_orders": expected,
            "expected_average_order_value": f"{aov:.{d}f}",
            "predicted_clv": f"{clv:.{d}f}",
            "total_clv": f"{hist + clv:.{d}f}",
            "churn_risk": risk6,
            "churn_risk_band": churn_band(risk6),
            "expected_next_order_at": None if nxt != nxt else iso(nxt),
            "subscription_revenue": zero,
            "subscription": None,
            "rfm_scores": None,  # by the segment schemes (SegmentSet.add_value_fields)
            "acquisition_channel": None,  # from the store's state: see add_channels
            "cohort": month_of(s.first_ts) if s.orders else None,
            "clv_percentile": None,  # with a fitted model's quantiles: see score
        }
        for s, x, t_x, age, trad, hist, alive, expected, aov, clv, risk6, nxt in rows
    ]
