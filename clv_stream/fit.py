"""``clv-stream fit``: gather customer summaries, fit a purchase and a spend model, build a model.

Data come from the live Redis aggregates (SCAN over customers, as of the stream's event
time) or from a transactions file (optionally split into calibration and holdout). The
result is a :class:`~clv_stream.domain.model.ScoringModel` with a new ``model_version``,
time unit days, fit diagnostics and value-tier cut points (quantiles of ``total_clv``
under the new model), which :meth:`StateStore.save_model` makes current; running workers
pick it up within ``CLV_MODEL_POLL_INTERVAL`` seconds.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from clv_stream.domain import kinds
from clv_stream.domain.aggregate import Summary, aggregate_of
from clv_stream.domain.fitting import value_tier_cuts
from clv_stream.domain.inputs import ModelInputs, model_inputs
from clv_stream.domain.mle import FitResult
from clv_stream.domain.model import ScoringModel
from clv_stream.domain.sbg import SbgCohorts
from clv_stream.domain.sbg_fit import fit_sbg_cohorts
from clv_stream.domain.subscriptions import states_of
from clv_stream.domain.tenant import TenantSettings
from clv_stream.domain.value import DAYS_PER_MONTH
from clv_stream.events.money import Money
from clv_stream.events.validation import Order, OrderValidator
from clv_stream.exceptions import InvalidEvent, ModelError
from clv_stream.settings import Settings
from clv_stream.sources import iter_orders
from clv_stream.store.port import CustomerState, StateStore
from clv_stream.store.replies import sub_events

__all__ = ["CustomerArrays", "FitReport", "arrays_from_store", "arrays_from_transactions", "arrays_of",
           "fit_model", "summaries_from_store"]

FloatArray = npt.NDArray[np.float64]
TIER_QUANTILES = (0.5, 0.8, 0.95)
RFM_QUANTILES = (0.2, 0.4, 0.6, 0.8)
logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CustomerArrays(ModelInputs):
    """Model inputs of the customers with at least one counting order, as of ``as_of``."""

    as_of: int

    @property
    def days_since_last(self) -> FloatArray:
        return self.T - self.t_x

    @classmethod
    def from_summaries(cls, summaries: Iterable[Summary], as_of: int, decimals: int,
                       default_margin: float) -> CustomerArrays:
        active = [s for s in summaries if s.orders > 0]
        inputs = model_inputs(active, as_of, decimals, default_margin)
        return cls(**{f.name: getattr(inputs, f.name) for f in fields(ModelInputs)}, as_of=as_of)


    def converted(self, rate: float) -> CustomerArrays:
        """The same customers with money multiplied by ``rate`` (into another currency)."""
        return dataclasses.replace(self, m=self.m * rate, net=self.net * rate,
                                   profit=self.profit * rate)

    @classmethod
    def joined(cls, parts: Sequence[CustomerArrays], as_of: int) -> CustomerArrays:
        """The customers of every part, one after another."""
        if not parts:
            return cls.from_summaries([], as_of, 2, 1.0)
        if len(parts) == 1:
            return parts[0]
        names = [f.name for f in fields(ModelInputs)]
        return cls(**{n: np.concatenate([getattr(p, n) for p in parts]) for n in names},
                   as_of=as_of)


@dataclass(frozen=True, slots=True)
class FitReport:
    model: ScoringModel
    customers: int
    repeat_customers: int
    seconds: float
    holdout: dict[str, Any] | None = None
    subscriptions: int = 0  # the retention model was fitted on

    def _with(self, retention: RetentionReport) -> FitReport:
        """This report with the subscriptions' sBG in its model."""
        model = dataclasses.replace(
            self.model, retention=retention.model,
            diagnostics={**self.model.diagnostics, "sbg": retention.diagnostics})
        return dataclasses.replace(self, model=model, subscriptions=retention.subscriptions)

    def to_json_dict(self) -> dict[str, Any]:
        return {"model": self.model.to_json_dict(), "customers": self.customers,
                "repeat_customers": self.repeat_customers, "seconds": round(self.seconds, 3),
                "holdout": self.holdout, "subscriptions": self.subscriptions}


async def arrays_from_store(store: StateStore, settings: Settings,
                            on_page: Callable[[int], None] | None = None) -> CustomerArrays:
    """The live aggregates of every customer, as of the stream's event time (each tenant's
    amounts in ``CLV_CURRENCY``)."""
    found = await summaries_from_store(store, on_page=on_page)
    return arrays_of(found, await store.clock(), settings, await store.tenants())


async def summaries_from_store(store: StateStore, tenant: str | None = None,
                               on_page: Callable[[int], None] | None = None,
                               subscribers: dict[str, list[CustomerState]] | None = None,
                               ) -> dict[str, list[Summary]]:
    """The live aggregates per tenant (of ``tenant`` only, when given); the customers with
    subscriptions are also put in ``subscribers``, per tenant, when it is given."""
    found: dict[str, list[Summary]] = {}
    async for ids in store.scan_customer_ids(count=2000, tenant=tenant):
        for state in await store.customers(ids):
            found.setdefault(state.tenant, []).append(state.summary)
            if subscribers is not None and state.subscriptions:
                subscribers.setdefault(state.tenant, []).append(state)
        if on_page:
            on_page(len(ids))
    return found


@dataclass(frozen=True, slots=True)
class RetentionReport:
    """The sBG fitted on subscriptions (``model``), and how each cohort's fit went."""

    model: SbgCohorts
    subscriptions: int
    diagnostics: dict[str, Any]


def fit_retention(subscribers: Sequence[CustomerState], as_of: int, grace_s: int,
                  min_subscribers: int) -> RetentionReport | None:
    """The sBG per cohort (start month x billing interval) from subscribers' state as of
    ``as_of``: a subscription that churned after r renewals is a lifetime of r + 1 periods,
    one still running a lifetime of at least r + 1 (censored); None without subscriptions."""
    cohorts: list[str] = []
    renewals: list[int] = []
    churned: list[bool] = []
    for customer in subscribers:
        for state in states_of(sub_events(customer.subscriptions), as_of, grace_s).values():
            if state.cohort is None:
                continue  # no start seen
            cohorts.append(state.cohort)
            renewals.append(state.renewals)
            churned.append(state.status == "churned")
    if not cohorts:
        return None
    fitted = fit_sbg_cohorts(cohorts, renewals, churned, min_subscribers)
    diagnostics = {"pooled": _diag(fitted.pooled),
                   "cohorts": {k: _diag(v) for k, v in fitted.cohorts.items()},
                   "pooled_for": fitted.skipped}
    return RetentionReport(fitted.model, len(cohorts), diagnostics)


def arrays_of(summaries: Mapping[str, Sequence[Summary]], as_of: int, settings: Settings,
              tenants: Mapping[str, TenantSettings], currency: str | None = None,
              ) -> CustomerArrays:
    """Model inputs of several tenants' customers, their money in ``currency`` (default
    ``CLV_CURRENCY``): each tenant's amounts are kept in its own currency and converted here
    at the rates of ``Money`` (a tenant whose currency has no rate is left out, logged)."""
    into = Money.of(settings, currency)
    parts: list[CustomerArrays] = []
    for tenant, found in sorted(summaries.items()):
        own = tenants.get(tenant)
        unit = own.currency if own and own.currency else settings.currency
        margin = own.default_margin if own and own.default_margin is not None else None
        rate = into.rates.get(unit)
        if rate is None:
            logger.warning("tenant %s is left out of the %s fit: no rate from %s", tenant,
                           into.currency, unit)
            continue
        arrays = CustomerArrays.from_summaries(
            found, as_of, settings.decimals(unit),
            float(settings.default_margin if margin is None else margin))
        parts.append(arrays if rate == 1 else arrays.converted(float(rate)))
    return CustomerArrays.joined(parts, as_of)


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
              *, force: bool = False, purchases: str = "bgnbd",
              spend: str = "gamma_gamma", retention: RetentionReport | None = None,
              ) -> FitReport:
    """Fit a purchase and a spend model (kinds by name) and derive the value-tier cut points;
    ``retention``: the subscriptions' sBG fitted alongside (:func:`fit_retention`), stored
    with them. Without customers with orders but with ``retention``, the purchase and spend
    models are the built-in ones.

    Raises :class:`ModelError` when there is nothing to fit, a kind is unknown or has no
    fitter, or (unless ``force``) when an optimiser did not converge, e.g. on data without
    heterogeneity in drop-out. Diagnostics are keyed by kind name.
    """
    if retention is not None:
        try:
            return fit_model(arrays, settings, version, force=force, purchases=purchases,
                             spend=spend, retention=None)._with(retention)
        except ModelError as exc:  # a subscription shop: its orders fit no model
            model = dataclasses.replace(
                ScoringModel.default(),
                version=version or datetime.now(UTC).strftime("v%Y%m%dT%H%M%SZ"),
                retention=retention.model,
                diagnostics={"sbg": retention.diagnostics, "as_of": arrays.as_of,
                             "orders": f"not fitted ({exc}): the built-in purchase and spend "
                                       "models"})
            return FitReport(model, len(arrays), 0, 0.0, subscriptions=retention.subscriptions)
    if len(arrays) == 0:
        raise ModelError("no customers with a counting order to fit on")
    started = time.perf_counter()
    roles: tuple[tuple[str, kinds.Role], ...] = ((purchases, "purchases"), (spend, "spend"))
    fits = {name: _fit(kinds.kind(name, role), arrays, force) for name, role in roles}
    buys, spends = fits[purchases].params, fits[spend].params
    predicted = buys.discounted_purchases(
        arrays.x, arrays.t_x, arrays.T, periods=settings.horizon_months,
        period=DAYS_PER_MONTH, discount_rate=settings.discount_rate,
    ) * (spends.expected_order_value(arrays.x, arrays.m) * arrays.margin)
    totals = arrays.profit + np.nan_to_num(predicted)
    cuts = value_tier_cuts(totals, TIER_QUANTILES)
    repeat = arrays.x > 0
    model = ScoringModel(
        version=version or datetime.now(UTC).strftime("v%Y%m%dT%H%M%SZ"),
        purchases=buys, spend=spends, time_unit_days=1.0, tier_cuts=cuts,
        rfm_cuts=rfm_cuts(arrays),
        clv_quantiles=tuple(float(q) for q in np.quantile(totals, np.arange(1, 101) / 100)),
        diagnostics={**{name: _diag(fit) for name, fit in fits.items()}, "as_of": arrays.as_of,
                     "gamma_gamma_excluded_zero_spend": int((repeat & ~(arrays.m > 0)).sum()),
                     "tier_quantiles": list(TIER_QUANTILES)},
    )
    return FitReport(model, len(arrays), int(repeat.sum()), time.perf_counter() - started)


def _fit(kind: kinds.ModelKind, arrays: CustomerArrays, force: bool) -> FitResult[Any]:
    if kind.fit is None:
        raise ModelError(f"model kind {kind.name} has no fitter")
    result = kind.fit(arrays)
    if not result.converged and not force:
        raise ModelError(f"{kind.name} fit did not converge ({result.message}); "
                         f"parameters {result.params}; use --force to store it anyway")
    return result


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
    unit = model.time_unit_days
    expected = model.purchases.expected_purchases(horizon_days / unit, arrays.x,
                                                  arrays.t_x / unit, arrays.T / unit)
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

