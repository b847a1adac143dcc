"""Aggregates -> ``CustomerValue`` records, for a whole batch at once (numpy, no I/O).

Historic figures are exact (integers in minor units, formatted as decimal strings); model
figures are floats, rounded to the currency's minor unit only when formatted.

Definitions (see also the README):

* ``historic_clv`` = gross profit so far = sum over counting orders of net x margin.
* ``traditional_clv`` = average order value x purchases per year x ``lifespan_years`` x margin,
  with purchases per year = orders / max(1, age in years); the floor keeps a customer who
  is a few days old from being annualised from those days.
* ``predicted_clv`` = discounted Gamma-Gamma x BG/NBD value over the next
  ``horizon_months`` (30-day months, monthly ``discount_rate``, as lifetimes), x margin.
* ``churn_risk`` = P(no order in the next 90 days); ``expected_next_order_at`` = as_of + the
  median wait to the next order, or null when that is beyond the horizon.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from clv_stream.domain import predictive as pm
from clv_stream.domain.aggregate import SECONDS_PER_DAY, Summary
from clv_stream.domain.model import ScoringModel
from clv_stream.events.times import iso  # re-exported: formatting lives with parsing

__all__ = ["ValueConfig", "churn_band", "iso", "score"]

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
) -> list[dict[str, Any]]:
    """One ``CustomerValue`` dict (JSON-ready, money as decimal strings) per summary.

    ``as_of`` (epoch seconds) is one time for all, or one per summary.
    """
    if not summaries:
        return []
    times = np.broadcast_to(np.asarray(as_of, dtype=np.float64), (len(summaries),))
    cols = _columns(summaries, times, cfg)
    pred = _predict(cols, model, cfg)
    return _records(summaries, cols, pred, times, cfg)


def _columns(summaries: Sequence[Summary], as_of: FloatArray, cfg: ValueConfig) -> dict[str, Any]:
    scale = 10.0**cfg.decimals
    orders = np.array([s.orders for s in summaries], dtype=np.float64)
    first_day = np.array([s.first_ts // SECONDS_PER_DAY for s in summaries], dtype=np.float64)
    last_day = np.array([s.last_ts // SECONDS_PER_DAY for s in summaries], dtype=np.float64)
    net = np.array([s.net_minor for s in summaries], dtype=np.float64) / scale
    profit = np.array([s.profit_minor for s in summaries], dtype=np.float64) / scale
    first_net = np.array([s.first_day_net_minor for s in summaries], dtype=np.float64) / scale
    x = np.maximum(np.array([s.purchase_days for s in summaries], dtype=np.float64) - 1, 0)
    today = as_of // SECONDS_PER_DAY
    active = orders > 0
    t_x = np.where(active, last_day - first_day, 0.0)
    big_t = np.where(active, np.maximum(today - first_day, 0.0), 0.0)
    monetary = np.where(x > 0, (net - first_net) / np.maximum(x, 1), 0.0)
    margin = np.where(net > 0, profit / np.where(net > 0, net, 1.0), cfg.default_margin_bp / 1e4)
    return {"orders": orders, "x": x, "t_x": t_x, "T": big_t, "m": monetary, "net": net,
            "margin": margin, "active": active, "today": today, "last_day": last_day}


def _predict(cols: dict[str, Any], model: ScoringModel, cfg: ValueConfig) -> dict[str, Any]:
    """Model figures per customer.

    The BG/NBD terms depend on ``(x, t_x, T)`` only, whole days: they are computed once per
    distinct triple and spread (a batch's new customers all share ``(0, 0, T)``), which
    spares most of the hypergeometric function calls. Discounted CLV is that per-triple
    value times the Gamma-Gamma order value and the margin, per customer.
    """
    unit = model.time_unit_days
    uniq, inv = _distinct_triples(cols["x"], cols["t_x"], cols["T"])
    x, t_x, big_t = uniq[:, 0], uniq[:, 1] / unit, uniq[:, 2] / unit
    bg, gg = model.bgnbd, model.gamma_gamma
    horizon_days = cfg.horizon_months * DAYS_PER_MONTH
    alive = pm.p_alive(bg, x, t_x, big_t)  # once, for every figure below that needs it
    # value of the horizon per unit of Gamma-Gamma order value (gg_expected_order_value > 0)
    per_value = pm.discounted_clv(
        bg, gg, x, t_x, big_t, 0.0, months=cfg.horizon_months, discount_rate=cfg.discount_rate,
        days_per_month=DAYS_PER_MONTH / unit, alive=alive,
    ) / pm.gg_expected_order_value(gg, x, 0.0)
    wait = pm.median_days_to_next_purchase(bg, x, t_x, big_t, alive=alive)[inv] * unit
    active = cols["active"]
    aov = pm.gg_expected_order_value(gg, cols["x"], cols["m"])
    clv = per_value[inv] * aov * cols["margin"]
    expected = pm.expected_purchases(bg, horizon_days / unit, x, t_x, big_t, alive=alive)
    risk = pm.prob_no_purchase(bg, CHURN_WINDOW_DAYS / unit, x, t_x, big_t, alive=alive)
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


def _money(minor: int, decimals: int) -> str:
    """Minor units -> decimal string, as ``str(Decimal(minor).scaleb(-decimals))``."""
    if decimals <= 0:
        return str(minor)
    if minor < 0:
        return "-" + _money(-minor, decimals)
    text = str(minor).rjust(decimals + 1, "0")
    return text[:-decimals] + "." + text[-decimals:]


def _ratio_money(numerator_minor: int, denominator: int, decimals: int) -> str:
    """``numerator / denominator`` minor units, rounded half-even to a minor unit, exactly
    (as ``Decimal`` quantize with ``ROUND_HALF_EVEN``; no float in between)."""
    if denominator <= 0:
        return _money(0, decimals)
    q, r = divmod(numerator_minor, denominator)
    if 2 * r > denominator or (2 * r == denominator and q % 2):
        q += 1
    return _money(q, decimals)


def _records(
    summaries: Sequence[Summary], cols: dict[str, Any], pred: dict[str, Any], as_of: FloatArray,
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
    x = cols["x"]
    years = np.maximum(1.0, cols["T"].astype(np.int64) / 365.25)
    profit = np.array([s.profit_minor for s in summaries], dtype=np.float64)
    rows = zip(
        summaries, x.tolist(), cols["t_x"].tolist(), cols["T"].tolist(),
        (profit / years * cfg.lifespan_years / unit).tolist(), (profit / unit).tolist(),
        np.round(pred["p_alive"], 6).tolist(), np.round(pred["expected"], 6).tolist(),
        pred["aov"].tolist(), pred["clv"].tolist(),
        np.round(pred["risk"], 6).tolist(), (as_of + pred["wait"] * SECONDS_PER_DAY).tolist(),
        strict=True,
    )
    return [
        {
            "orders": s.orders,
            "net_revenue": _money(s.net_minor, d),
            "first_order_at": iso(s.first_ts) if s.orders else None,
            "last_order_at": iso(s.last_ts) if s.orders else None,
            "frequency": int(x),
            "recency_days": int(t_x),
            "age_days": int(age),
            "average_order_value": _ratio_money(s.net_minor, s.orders, d),
            "average_days_between_orders": round(t_x / x, 4) if x else None,
            "historic_clv": _money(s.profit_minor, d),
            "traditional_clv": f"{trad:.{d}f}",
            "p_alive": alive,
            "expected_orders": expected,
            "expected_average_order_value": f"{aov:.{d}f}",
            "predicted_clv": f"{clv:.{d}f}",
            "total_clv": f"{hist + clv:.{d}f}",
            "churn_risk": risk6,
            "churn_risk_band": churn_band(risk6),
            "expected_next_order_at": None if nxt != nxt else iso(nxt),
        }
        for s, x, t_x, age, trad, hist, alive, expected, aov, clv, risk6, nxt in rows
    ]
