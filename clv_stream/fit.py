"""``clv-stream fit``: gather customer summaries, fit BG/NBD + Gamma-Gamma, build a model.

Data come from the live Redis aggregates (SCAN over customers, as of the stream's event
time) or from a transactions file (optionally split into calibration and holdout). The
result is a :class:`~clv_stream.domain.model.ScoringModel` with a new ``model_version``,
time unit days, fit diagnostics and value-tier cut points (quantiles of ``total_clv``
under the new model), which :meth:`StateStore.save_model` makes current; running workers
pick it up within ``CLV_MODEL_POLL_INTERVAL`` seconds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from clv_stream.domain import predictive as pm
from clv_stream.domain.aggregate import SECONDS_PER_DAY, Summary, aggregate_of
from clv_stream.domain.fitting import fit_bgnbd, fit_gamma_gamma, value_tier_cuts
from clv_stream.domain.model import ScoringModel
from clv_stream.events.validation import Order, OrderValidator
from clv_stream.exceptions import InvalidEvent, ModelError
from clv_stream.settings import Settings
from clv_stream.sources import iter_orders
from clv_stream.store.port import StateStore

__all__ = ["CustomerArrays", "FitReport", "arrays_from_store", "arrays_from_transactions", "fit_model"]

FloatArray = npt.NDArray[np.float64]
TIER_QUANTILES = (0.5, 0.8, 0.95)
RFM_QUANTILES = (0.2, 0.4, 0.6, 0.8)


@dataclass(frozen=True, slots=True)
class CustomerArrays:
    """Model inputs per customer with at least one counting order, in days and major units."""

    x: FloatArray  # repeat purchase days
    t_x: FloatArray  # recency in days
    T: FloatArray  # age in days as of ``as_of``
    m: FloatArray  # mean net value of the repeat purchase days (0 when x == 0)
    profit: FloatArray  # historic gross profit
    margin: FloatArray  # profit / net revenue (the default margin where revenue is 0)
    as_of: int
    orders: FloatArray
    net: FloatArray  # net revenue

    @property
    def days_since_last(self) -> FloatArray:
        return self.T - self.t_x

    @classmethod
    def from_summaries(cls, summaries: Iterable[Summary], as_of: int, decimals: int,
                       default_margin: float) -> CustomerArrays:
        rows = [(s.purchase_days - 1, s.last_ts // SECONDS_PER_DAY, s.first_ts // SECONDS_PER_DAY,
                 s.net_minor, s.first_day_net_minor, s.profit_minor, s.orders)
                for s in summaries if s.orders > 0]
        data = np.array(rows, dtype=np.float64).reshape(-1, 7)
        money = 10.0**decimals
        scale = np.array([1, 1, 1, money, money, money, 1], dtype=np.float64)
        x, last, first, net, first_net, profit, orders = (data / scale).T
        today = as_of // SECONDS_PER_DAY
        margin = np.where(net > 0, profit / np.where(net > 0, net, 1), default_margin)
        return cls(x=x, t_x=last - first, T=np.maximum(today - first, 0),
                   m=np.where(x > 0, (net - first_net) / np.maximum(x, 1), 0.0),
                   profit=profit, margin=margin, as_of=as_of, orders=orders, net=net)

    def __len__(self) -> int:
        return int(self.x.size)


@dataclass(frozen=True, slots=True)
class FitReport:
    model: ScoringModel
    customers: int
    repeat_customers: int
    seconds: float
    holdout: dict[str, Any] | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return {"model": self.model.to_json_dict(), "customers": self.customers,
                "repeat_customers": self.repeat_customers, "seconds": round(self.seconds, 3),
                "holdout": self.holdout}


async def arrays_from_store(store: StateStore, settings: Settings,
                            on_page: Callable[[int], None] | None = None) -> CustomerArrays:
    """The live aggregates of every customer, as of the stream's event time."""
    summaries: list[Summary] = []
    async for ids in store.scan_customer_ids(count=2000):
        summaries.extend(s.summary for s in await store.customers(ids))
        if on_page:
            on_page(len(ids))
    return CustomerArrays.from_summaries(summaries, await store.clock(), settings.reporting_decimals,
                                         float(settings.default_margin))


def arrays_from_transactions(
    path: Path, fmt: str, settings: Settings, calibration_end: datetime | None = None,
    holdout_end: datetime | None = None,
) -> tuple[CustomerArrays, dict[str, int] | None]:
    """Summaries from an orders file; with ``calibration_end``, also holdout purchase days."""
    validator = OrderValidator(settings)
    orders: list[Order] = []
    for event in iter_orders(path, fmt):
        try:
            orders.append(validator.validate(orjson.dumps(event), math.inf))
        except InvalidEvent:
            continue
    if not orders:
        raise ModelError(f"no valid orders in {path}")
    cut = int(calibration_end.timestamp()) if calibration_end else max(o.ts for o in orders)
    calibration = aggregate_of(o for o in orders if o.ts <= cut)
    holdout = None
    if calibration_end is not None:
        end = int(holdout_end.timestamp()) if holdout_end else max(o.ts for o in orders)
        later = aggregate_of(o for o in orders if cut < o.ts <= end and o.customer_id in calibration)
        holdout = {cid: s.purchase_days for cid, s in later.items()}
    ids = sorted(cid for cid, s in calibration.items() if s.orders > 0)
    arrays = CustomerArrays.from_summaries([calibration[c] for c in ids], cut, settings.reporting_decimals,
                                           float(settings.default_margin))
    return arrays, (None if holdout is None else {c: holdout.get(c, 0) for c in ids})


def fit_model(arrays: CustomerArrays, settings: Settings, version: str | None = None,
              *, force: bool = False) -> FitReport:
    """Fit both models and derive the value-tier cut points.

    Raises :class:`ModelError` when there is nothing to fit or (unless ``force``) when an
    optimiser did not converge, e.g. on data without heterogeneity in drop-out.
    """
    if len(arrays) == 0:
        raise ModelError("no customers with a counting order to fit on")
    started = time.perf_counter()
    bg = fit_bgnbd(arrays.x, arrays.t_x, arrays.T)
    repeat = arrays.x > 0
    spenders = repeat & (arrays.m > 0)  # Gamma-Gamma needs a positive spend (as lifetimes)
    gg = fit_gamma_gamma(arrays.x[spenders], arrays.m[spenders])
    for name, result in (("BG/NBD", bg), ("Gamma-Gamma", gg)):
        if not result.converged and not force:
            raise ModelError(f"{name} fit did not converge ({result.message}); "
                             f"parameters {result.params}; use --force to store it anyway")
    predicted = pm.discounted_clv(
        bg.params, gg.params, arrays.x, arrays.t_x, arrays.T, arrays.m,
        months=settings.horizon_months, discount_rate=settings.discount_rate, margin=arrays.margin,
    )
    cuts = value_tier_cuts(arrays.profit + np.nan_to_num(predicted), TIER_QUANTILES)
    model = ScoringModel(
        version=version or datetime.now(UTC).strftime("v%Y%m%dT%H%M%SZ"),
        bgnbd=bg.params, gamma_gamma=gg.params, time_unit_days=1.0, tier_cuts=cuts,
        rfm_cuts=rfm_cuts(arrays),
        diagnostics={"bgnbd": _diag(bg), "gamma_gamma": _diag(gg), "as_of": arrays.as_of,
                     "gamma_gamma_excluded_zero_spend": int((repeat & ~spenders).sum()),
                     "tier_quantiles": list(TIER_QUANTILES)},
    )
    return FitReport(model, len(arrays), int(repeat.sum()), time.perf_counter() - started)


def rfm_cuts(arrays: CustomerArrays) -> dict[str, tuple[float, float, float, float]]:
    """Quintile cut points (20/40/60/80 %) of recency, orders and net revenue."""
    def quintiles(values: FloatArray) -> tuple[float, float, float, float]:
        q = np.quantile(values, RFM_QUANTILES)
        return (float(q[0]), float(q[1]), float(q[2]), float(q[3]))

    return {"recency_days": quintiles(arrays.days_since_last), "orders": quintiles(arrays.orders),
            "net_revenue": quintiles(arrays.net)}


def holdout_table(arrays: CustomerArrays, model: ScoringModel, actual: Mapping[str, int],
                  horizon_days: float) -> dict[str, Any]:
    """Predicted vs actual holdout repeat purchases, grouped by calibration frequency."""
    expected = pm.expected_purchases(model.bgnbd, horizon_days, arrays.x, arrays.t_x, arrays.T)
    real = np.array(list(actual.values()), dtype=np.float64)
    rows = []
    for k in range(8):
        sel = arrays.x == k if k < 7 else arrays.x >= 7
        if sel.any():
            rows.append({"frequency": k if k < 7 else "7+", "customers": int(sel.sum()),
                         "actual": round(float(real[sel].mean()), 4),
                         "predicted": round(float(expected[sel].mean()), 4)})
    return {"horizon_days": horizon_days, "actual_total": float(real.sum()),
            "predicted_total": round(float(expected.sum()), 2), "by_frequency": rows}


def _diag(fit: Any) -> dict[str, Any]:
    return {"log_likelihood": fit.log_likelihood, "converged": fit.converged,
            "iterations": fit.iterations, "customers": fit.n_customers,
            "seconds": round(fit.seconds, 4), "message": fit.message}

