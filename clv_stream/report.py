"""The portfolio report of a tenant, from the totals the store keeps (no scan).

:func:`build_report` reads the tenant's portfolio totals, its marketing spend and its
subscription totals (three reads, whatever the number of customers) and computes the
report over a measurement period (``P12M`` by default) ending at the stream's event time:
:func:`clv_stream.domain.portfolio.portfolio_report` has the definitions.

The worker serves it from a :class:`ReportCache` per (tenant, period), refreshed in the
background at most once per ``CLV_REPORT_INTERVAL`` while someone asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from clv_stream.domain.portfolio import PERIOD_DEFAULT, parse_period, portfolio_report
from clv_stream.domain.subscription_portfolio import portfolio
from clv_stream.events.times import iso
from clv_stream.pipeline import CustomerViews
from clv_stream.store.port import StateStore

__all__ = ["ReportCache", "ReportUnavailable", "build_report", "subscription_report"]

logger = logging.getLogger(__name__)


async def build_report(store: StateStore, views: CustomerViews, lifespan_years: Decimal, *,
                       tenant: str, period: str = PERIOD_DEFAULT) -> dict[str, Any]:
    """The report of ``tenant`` over ``period`` (ISO 8601 months or years; raises
    :class:`~clv_stream.domain.portfolio.InvalidPeriod`)."""
    months = parse_period(period)
    scoring = views.scoring(tenant)
    totals, spend, clock = await asyncio.gather(
        store.portfolio_totals(tenant), store.marketing_spend(tenant), store.clock())
    figures = portfolio_report(totals, spend, clock, months, scoring.config.decimals,
                               lifespan_years, scoring.rules.decode)
    return {
        "tenant_id": tenant,
        "as_of": iso(clock),
        "currency": scoring.currency,
        "model_version": scoring.model.version,
        **figures,
        "subscriptions": await subscription_report(store, views, tenant, clock),
    }


async def subscription_report(store: StateStore, views: CustomerViews, tenant: str,
                              clock: int) -> dict[str, Any] | None:
    """The report's ``subscriptions`` section as of event time ``clock`` (None without
    subscribers): the tenant's totals as its customers were published, so no scan."""
    totals = await store.subscription_totals(tenant)
    if not totals:
        return None
    return portfolio(totals, clock, views.scoring(tenant).config.decimals)


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
