"""Portfolio report: the classic CLV figures for the whole customer base and per segment.

Per group: customers, orders, revenue, average order value (revenue / orders), purchase
frequency (orders / customers), customer value (AOV x frequency), lifespan (the configured
``lifespan_years``), traditional CLV (customer value x lifespan x margin), and the sums of
historic, predicted and total CLV. This first version scans every customer (SCAN, pages of
1,000); an incremental report maintained by the worker is planned.

One customer whose scoring raises never fails the report: a page that raises is scored
again one customer at a time, the failing ones are left out, logged once per customer id
(with the exception type) and counted in ``skipped_customers``.

The worker serves the report from a :class:`ReportCache`: computed in the background at most
once per ``CLV_REPORT_INTERVAL`` while someone asks, by :func:`compute_report` in a thread of
its own (its own event loop and Redis connection), so the worker's event loop, which runs the
consume lanes, never waits for a scan or for scoring.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from clv_stream.domain.model import ScoringModel
from clv_stream.domain.subscription_portfolio import portfolio
from clv_stream.domain.tenant import TenantSettings
from clv_stream.events.times import iso
from clv_stream.exceptions import StoreError
from clv_stream.pipeline import CustomerViews
from clv_stream.settings import Settings
from clv_stream.store.factory import open_store
from clv_stream.store.port import CustomerKey, StateStore

__all__ = ["Portfolio", "ReportCache", "ReportUnavailable", "Skipped", "build_report",
           "compute_report", "subscription_report"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Portfolio:
    customers: int = 0
    orders: int = 0
    revenue: Decimal = Decimal(0)
    profit: Decimal = Decimal(0)
    historic_clv: Decimal = Decimal(0)
    predicted_clv: Decimal = Decimal(0)
    total_clv: Decimal = Decimal(0)

    def add(self, value: dict[str, Any]) -> None:
        self.customers += 1
        self.orders += value["orders"]
        self.revenue += Decimal(value["net_revenue"])
        self.historic_clv += Decimal(value["historic_clv"])
        self.predicted_clv += Decimal(value["predicted_clv"])
        self.total_clv += Decimal(value["total_clv"])

    def figures(self, lifespan_years: Decimal) -> dict[str, Any]:
        aov = self.revenue / self.orders if self.orders else Decimal(0)
        frequency = Decimal(self.orders) / self.customers if self.customers else Decimal(0)
        margin = self.historic_clv / self.revenue if self.revenue else Decimal(0)
        value = aov * frequency
        q = Decimal("0.01")
        return {
            "customers": self.customers,
            "orders": self.orders,
            "revenue": str(self.revenue),
            "average_order_value": str(aov.quantize(q)),
            "purchase_frequency": str(frequency.quantize(Decimal("0.0001"))),
            "customer_value": str(value.quantize(q)),
            "lifespan_years": str(lifespan_years),
            "margin": str(margin.quantize(Decimal("0.0001"))),
            "traditional_clv": str((value * lifespan_years * margin).quantize(q)),
            "historic_clv": str(self.historic_clv),
            "predicted_clv": str(self.predicted_clv),
            "total_clv": str(self.total_clv),
        }


@dataclass(slots=True)
class _Groups:
    overall: Portfolio = field(default_factory=Portfolio)
    by_segment: dict[str, dict[str, Portfolio]] = field(default_factory=dict)


class Skipped:
    """Customers left out of a report because their scoring raised; each is logged once.

    Shared by the reports of one process, so a customer whose state trips scoring is not
    logged again every refresh. Bounded: past ``limit`` ids the memory starts over (and
    those customers are logged once more).
    """

    def __init__(self, limit: int = 100_000) -> None:
        self._limit = limit
        self._logged: set[str] = set()
        self._lock = threading.Lock()

    def note(self, customer_id: str, exc: BaseException) -> None:
        with self._lock:
            if customer_id in self._logged:
                return
            if len(self._logged) >= self._limit:
                self._logged.clear()
            self._logged.add(customer_id)
        logger.warning("customer %r left out of the report: its scoring raised %s",
                       customer_id, type(exc).__name__)


async def build_report(store: StateStore, views: CustomerViews, lifespan_years: Decimal, *,
                       tenant: str, skipped: Skipped | None = None) -> dict[str, Any]:
    """The report of ``tenant``, from a scan of its customers; see the module for the
    isolation."""
    log = skipped if skipped is not None else Skipped()
    groups = _Groups()
    left_out = 0
    async for ids in store.scan_customer_ids(tenant=tenant):
        found, failed = await _views(views, ids, log)
        left_out += failed
        for view in found:
            value = view["value"]
            if value["orders"] <= 0 and value["subscription"] is None:
                continue
            if value["orders"] > 0:  # the order figures are of customers with orders
                groups.overall.add(value)
            for dim, label in view["segments"].items():
                groups.by_segment.setdefault(dim, {}).setdefault(label, Portfolio()).add(value)
    scoring = views.scoring(tenant)
    clock = await store.clock()
    return {
        "tenant_id": tenant,
        "as_of": iso(clock),
        "currency": scoring.currency,
        "model_version": scoring.model.version,
        "subscriptions": await subscription_report(store, views, tenant, clock),
        "overall": groups.overall.figures(lifespan_years),
        "segments": {
            dim: {label: p.figures(lifespan_years) for label, p in sorted(labels.items())}
            for dim, labels in sorted(groups.by_segment.items())
        },
        "skipped_customers": left_out,
    }


async def subscription_report(store: StateStore, views: CustomerViews, tenant: str,
                              clock: int) -> dict[str, Any] | None:
    """The report's ``subscriptions`` section as of event time ``clock`` (None without
    subscribers): the tenant's totals as its customers were published, so no scan."""
    totals = await store.subscription_totals(tenant)
    if not totals:
        return None
    return portfolio(totals, clock, views.scoring(tenant).config.decimals)


async def _views(views: CustomerViews, ids: list[CustomerKey],
                 skipped: Skipped) -> tuple[list[dict[str, Any]], int]:
    """The views of a page of customers, and how many were left out.

    Store errors propagate (the report as a whole cannot be made); anything else is some
    customer's state tripping scoring: the page is scored again one customer at a time.
    """
    try:
        return await views.customer_views(ids), 0
    except StoreError:
        raise
    except Exception:
        pass
    found: list[dict[str, Any]] = []
    failed = 0
    for key in ids:
        try:
            found.extend(await views.customer_views([key]))
        except StoreError:
            raise
        except Exception as exc:  # the point is to survive anything one customer trips
            failed += 1
            skipped.note("/".join(key), exc)
    return found, failed


def compute_report(settings: Settings, model: ScoringModel, skipped: Skipped, tenant: str,
                   tenants: Mapping[str, TenantSettings] | None = None) -> dict[str, Any]:
    """Blocking: the report, on an event loop and a Redis connection of the calling thread.

    For a worker thread (see :class:`ReportCache`): the SCAN, the reads and the scoring all
    run here, none on the worker's event loop. ``model``: the worker's current model;
    ``tenants``: its tenants' settings (None: those in the store).
    """
    return asyncio.run(_compute(settings, model, skipped, tenant, tenants))


async def _compute(settings: Settings, model: ScoringModel, skipped: Skipped, tenant: str,
                   tenants: Mapping[str, TenantSettings] | None) -> dict[str, Any]:
    store = open_store(settings)
    try:
        views = CustomerViews(settings, store, model=model)
        await views.set_tenants(tenants)
        return await build_report(store, views, settings.lifespan_years, tenant=tenant,
                                  skipped=skipped)
    finally:
        await store.close()


class ReportUnavailable(Exception):
    """No report yet, and the last computation failed."""


class ReportCache:
    """A report served from memory and refreshed in the background.

    ``get()`` answers from the last computed report. A background task computes a new one
    at most once per ``interval`` seconds (``compute`` time plus ``interval`` between two),
    and only while someone asked in the last ``idle_after`` seconds; it ends by itself after
    that. The first request, and one whose report is older than ``idle_after`` (nobody kept
    it fresh), waits for the next computation. A failed computation is logged (its type
    only: a store error's text names the host) and the last report is kept.
    """

    def __init__(self, compute: Callable[[], Awaitable[dict[str, Any]]], interval: float,
                 idle_after: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._compute = compute
        self._interval = interval
        self._idle_after = idle_after
        self._clock = clock
        self._report: dict[str, Any] | None = None
        self._at = 0.0
        self._failed = False
        self._asked = -idle_after
        self._task: asyncio.Task[None] | None = None
        #: set when the computation under way ends (then replaced by a new one)
        self._round = asyncio.Event()
        #: computations run so far (for tests and diagnostics)
        self.computations = 0

    @property
    def refreshing(self) -> bool:
        """A background refresh is running (someone asked within ``idle_after``)."""
        return self._task is not None and not self._task.done()

    async def aclose(self) -> None:
        """Stop the background refresh now (it also ends by itself once nobody asks)."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def get(self) -> dict[str, Any]:
        now = self._asked = self._clock()
        if self._task is None or self._task.done():
            self._round = asyncio.Event()
            self._task = asyncio.create_task(self._refresh(), name="clv-report-refresh")
        if self._report is None and self._failed:
            raise ReportUnavailable
        if self._report is None or now - self._at > self._idle_after:
            await self._round.wait()
        if self._report is None:
            raise ReportUnavailable
        return self._report

    async def _refresh(self) -> None:
        while self._clock() - self._asked <= self._idle_after:
            try:
                report = await self._compute()
            except Exception as exc:  # keep the last report; try again next interval
                self._failed = True
                logger.warning("report: computation failed (%s); serving the last one",
                               type(exc).__name__)
            else:
                self._report, self._at, self._failed = report, self._clock(), False
            finally:
                self.computations += 1
                done, self._round = self._round, asyncio.Event()
                done.set()
            await asyncio.sleep(self._interval)
