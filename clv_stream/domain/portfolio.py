"""The portfolio report from a tenant's totals: KPIs over a measurement period, channels,
cohorts, segments and the CLV distribution (pure; contract v2, "Acquisition, cohorts, RFM,
history").

The totals are kept by the store as its customers change (``store/portfolio.lua`` names
every field): a report reads one hash per tenant and never scans the customers, so it costs
the same at 1,000 customers as at 1,000,000. Periods are whole calendar months: ``P12M``
ending at ``as_of`` is the month of ``as_of`` and the eleven before it.

Definitions (the contract's):

- ``customers``: customers with an order that was not cancelled; ``active_customers``: with
  an order placed in the period;
- ``repeat_purchase_rate``: customers with two purchase days or more / customers;
- ``retention_rate``: of the customers active in the previous period of the same length, the
  share active in this one; ``churn_rate``: 1 - retention, annualised
  (1 - retention^(12 / months)); ``average_lifespan_years``: 1 / churn_rate;
- ``average_order_value``: revenue / orders placed in the period; ``purchase_frequency``:
  orders in the period / active customers, per year; ``margin``: profit / revenue in the
  period;
- ``traditional_clv``: average order value x purchase frequency x ``CLV_LIFESPAN_YEARS`` x
  margin; ``traditional_clv_measured_lifespan`` the same with ``average_lifespan_years``;
- ``by_channel`` (acquisition channel: of the customer's first order): ``customers``
  acquired in the period, ``spend`` in the period, ``cac`` = spend / customers,
  ``average_total_clv`` of those customers, ``clv_to_cac``, and ``payback_months`` = CAC /
  the gross profit those customers made per customer-month since their first order;
- ``cohorts`` (first-order months in the period): ``customers``, ``retention[k]`` (share
  with an order k months after the first month), ``revenue_per_customer[k]`` (cumulative),
  ``average_total_clv``.

CLV sums (historic, predicted, total) are of the values last published for each customer.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from clv_stream.domain.aggregate import Summary
from clv_stream.domain.months import month_index, month_name

__all__ = ["CLV_BINS", "PERIOD_DEFAULT", "Figures", "InvalidPeriod", "parse_period",
           "portfolio_report", "transition_counts", "transition_line", "value_inputs"]

PERIOD_DEFAULT = "P12M"
#: Lower edges of the CLV distribution's bins, in units of the reporting currency.
CLV_BINS = (0, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000)
_PERIOD = re.compile(r"^P(?:(\d{1,3})Y)?(?:(\d{1,4})M)?$")


class InvalidPeriod(ValueError):
    """A measurement period that is not a whole number of months or years (``P12M``, ``P1Y``)."""


def parse_period(text: str) -> int:
    """The months of an ISO 8601 period of years and months (``P12M``, ``P1Y6M``)."""
    found = _PERIOD.match(text)
    if not found or not (found.group(1) or found.group(2)):
        raise InvalidPeriod(f"period {text!r}: give whole months or years, e.g. P12M or P1Y")
    months = int(found.group(1) or 0) * 12 + int(found.group(2) or 0)
    if not 1 <= months <= 1200:
        raise InvalidPeriod(f"period {text!r}: from 1 month to 100 years")
    return months


def value_inputs(summary: Summary, channel: str, historic: str, total: str,
                 decimals: int) -> str:
    """A published value as publish.lua adds it to the totals (portfolio.lua: add_value):
    "orders|net|historic|total|cohort|bin|channel", money in minor units (``historic``,
    ``total``: money texts with ``decimals`` places; historic "" when it is the net); the
    cohort "" for a customer with subscriptions only."""
    h, t = int(historic.replace(".", "")), int(total.replace(".", ""))
    n, net = summary.orders, summary.net_minor
    cohort = str(month_index(summary.first_ts)) if n > 0 else ""
    return (f"{n}|{net}|{'' if h == net else h}|{t}|{cohort}|{clv_bin(t, decimals)}|"
            f"{channel or 'unknown'}")


def clv_bin(total_minor: int, decimals: int) -> int:
    """The index of the :data:`CLV_BINS` bin of a total CLV (negative: the first)."""
    return max(0, bisect_right(CLV_BINS, total_minor / 10**decimals) - 1)


def transition_line(at: int, customer_id: str, dimension: str, old: str | None,
                    new: str | None) -> str:
    """One segment transition as the store keeps it (tab-separated; ids hold no tabs)."""
    return f"{at}\t{customer_id}\t{dimension}\t{old or ''}\t{new or ''}"


@dataclass(slots=True)
class Figures:
    """Sums over a group of customers, in minor units."""

    customers: int = 0
    orders: int = 0
    revenue: int = 0
    historic: int = 0
    total: int = 0

    def add(self, other: Figures) -> None:
        self.customers += other.customers
        self.orders += other.orders
        self.revenue += other.revenue
        self.historic += other.historic
        self.total += other.total


class _Totals:
    """The totals hash, read by field family."""

    def __init__(self, totals: Mapping[str, int]) -> None:
        self.get = totals.get
        self.gaps: list[tuple[int | None, int, int]] = []
        self.months: dict[str, dict[int, int]] = {"mo": {}, "mr": {}, "mp": {}}
        self.cohort: dict[str, dict[tuple[int, int], int]] = {"ca": {}, "cr": {}}
        self.cohort_one: dict[str, dict[int, int]] = {"cn": {}, "cv": {}, "cvn": {}}
        self.channel: dict[str, dict[tuple[int, str], int]] = {
            "xa": {}, "xp": {}, "xv": {}, "xvn": {}}
        self.cells: dict[tuple[str, str], Figures] = {}
        self.bins: dict[int, int] = {}
        for field, n in totals.items():
            if n:
                self._read(field, n)

    def _read(self, field: str, n: int) -> None:
        family, _, rest = field.partition(":")
        if family == "g":
            p, _, q = rest.partition(":")
            self.gaps.append((int(p) if p else None, int(q), n))
        elif family in self.months:
            self.months[family][int(rest)] = n
        elif family in self.cohort:
            c, _, k = rest.partition(":")
            self.cohort[family][(int(c), int(k))] = n
        elif family in self.cohort_one:
            self.cohort_one[family][int(rest)] = n
        elif family in self.channel:
            c, _, x = rest.partition(":")
            self.channel[family][(int(c), x)] = n
        elif family in ("so", "ss"):
            what, _, sg = rest.partition(":")
            cell = self.cells.setdefault((family[1], sg), Figures())
            name = {"n": "customers", "o": "orders", "r": "revenue", "h": "historic",
                    "t": "total"}[what]
            setattr(cell, name, getattr(cell, name) + n)
        elif family == "d":
            self.bins[int(rest)] = n

    def active(self, first: int, last: int) -> int:
        """Customers with an order placed in months ``first`` .. ``last``: each counts once,
        by the gap that enters the run (its first active month in it)."""
        return sum(n for p, q, n in self.gaps
                   if first <= q <= last and (p is None or p < first))

    def in_months(self, family: str, first: int, last: int) -> int:
        return sum(n for m, n in self.months[family].items() if first <= m <= last)


def _money(minor: int | Decimal, decimals: int) -> str:
    return str((Decimal(minor) / 10**decimals).quantize(Decimal(1).scaleb(-decimals)))


def _ratio(x: float | Decimal | None) -> float | None:
    return None if x is None else round(float(x), 4)


def _div(a: int | Decimal, b: int | Decimal) -> Decimal | None:
    return Decimal(a) / Decimal(b) if b else None


def portfolio_report(totals: Mapping[str, int], spend: Mapping[tuple[int, str], int],
                     as_of: int, months: int, decimals: int, lifespan_years: Decimal,
                     labels_of: Callable[[str], Mapping[str, str | None]]) -> dict[str, Any]:
    """The report's ``period``, ``kpis``, ``overall``, ``segments``, ``by_channel``,
    ``cohorts`` and ``clv_distribution`` from a tenant's totals (see the module).

    ``spend``: (month index, channel) -> minor units; ``labels_of``: a segment cell (the
    store's encoded labels) -> dimension -> label."""
    t = _Totals(totals)
    last = month_index(as_of)
    first = last - months + 1
    kpis = _kpis(t, first, last, months, decimals, lifespan_years)
    overall = Figures()
    segments: dict[str, dict[str, Figures]] = {}
    for (flag, sg), cell in t.cells.items():
        if flag == "o":
            overall.add(cell)
        for dim, label in labels_of(sg).items():
            if label is not None:
                segments.setdefault(dim, {}).setdefault(label, Figures()).add(cell)
    q = Decimal(1).scaleb(-decimals)
    return {
        "period": f"P{months}M",
        "period_start": month_name(first),
        "period_end": month_name(last),
        "kpis": kpis,
        "overall": {**{k: kpis[k] for k in (
            "customers", "active_customers", "orders", "revenue", "average_order_value",
            "purchase_frequency", "margin", "traditional_clv")},
            "customer_value": str((Decimal(kpis["average_order_value"])
                                   * Decimal(str(kpis["purchase_frequency"]))).quantize(q)),
            "lifespan_years": str(lifespan_years),
            "historic_clv": _money(overall.historic, decimals),
            "predicted_clv": _money(overall.total - overall.historic, decimals),
            "total_clv": _money(overall.total, decimals)},
        "segments": {dim: {label: _segment(f, decimals) for label, f in sorted(found.items())}
                     for dim, found in sorted(segments.items())},
        "by_channel": _channels(t, spend, first, last, decimals),
        "cohorts": _cohorts(t, first, last, decimals),
        "clv_distribution": {
            "edges": [_money(edge * 10**decimals, decimals) for edge in CLV_BINS],
            "counts": [t.bins.get(i, 0) for i in range(len(CLV_BINS))]},
    }


def _kpis(t: _Totals, first: int, last: int, months: int, decimals: int,
          lifespan_years: Decimal) -> dict[str, Any]:
    customers = t.get("n", 0)
    active = t.active(first, last)
    before = t.active(first - months, first - 1)
    retained = before + active - t.active(first - months, last)
    retention = _div(retained, before)
    churn = None if retention is None else 1 - float(retention) ** (12 / months)
    lifespan = None if not churn else 1 / churn
    orders = t.in_months("mo", first, last)
    revenue = t.in_months("mr", first, last)
    profit = t.in_months("mp", first, last)
    aov = (_div(revenue, orders) or Decimal(0)) / 10**decimals
    frequency = (_div(orders, active) or Decimal(0)) * 12 / months
    margin = _div(profit, revenue) or Decimal(0)
    per_year = aov * frequency * margin
    q = Decimal(1).scaleb(-decimals)
    return {
        "customers": customers,
        "active_customers": active,
        "orders": orders,
        "revenue": _money(revenue, decimals),
        "repeat_purchase_rate": _ratio(_div(t.get("rp", 0), customers)),
        "retention_rate": _ratio(retention),
        "churn_rate": _ratio(churn),
        "average_lifespan_years": _ratio(lifespan),
        "average_order_value": str(aov.quantize(q)),
        "purchase_frequency": _ratio(frequency),
        "margin": _ratio(margin),
        "traditional_clv": str((per_year * lifespan_years).quantize(q)),
        "traditional_clv_measured_lifespan":
            None if lifespan is None else str((per_year * Decimal(lifespan)).quantize(q)),
    }


def _segment(f: Figures, decimals: int) -> dict[str, Any]:
    return {
        "customers": f.customers,
        "orders": f.orders,
        "revenue": _money(f.revenue, decimals),
        "average_order_value": _money(f.revenue / Decimal(f.orders) if f.orders else 0, decimals),
        "orders_per_customer": _ratio(_div(f.orders, f.customers)),
        "historic_clv": _money(f.historic, decimals),
        "predicted_clv": _money(f.total - f.historic, decimals),
        "total_clv": _money(f.total, decimals),
        "average_total_clv": _money(f.total / Decimal(f.customers) if f.customers else 0,
                                    decimals),
    }


def _channels(t: _Totals, spend: Mapping[tuple[int, str], int], first: int, last: int,
              decimals: int) -> dict[str, dict[str, Any]]:
    def within(family: str) -> dict[str, int]:
        found: dict[str, int] = {}
        for (c, x), n in t.channel[family].items():
            if first <= c <= last:
                found[x] = found.get(x, 0) + n
        return found

    acquired, value, valued, profit = within("xa"), within("xv"), within("xvn"), within("xp")
    exposure: dict[str, int] = {}  # customer-months since the first order, up to the period's end
    for (c, x), n in t.channel["xa"].items():
        if first <= c <= last:
            exposure[x] = exposure.get(x, 0) + n * (last - c + 1)
    spent: dict[str, int] = {}
    for (m, x), n in spend.items():
        if first <= m <= last:
            spent[x] = spent.get(x, 0) + n
    out: dict[str, dict[str, Any]] = {}
    for x in sorted({*acquired, *spent}):
        customers = acquired.get(x, 0)
        cac = _div(spent.get(x, 0), customers) if x in spent else None
        clv = _div(value.get(x, 0), valued.get(x, 0))
        monthly = _div(profit.get(x, 0), exposure.get(x, 0))
        out[x] = {
            "customers": customers,
            "spend": _money(spent.get(x, 0), decimals),
            "cac": None if cac is None else _money(cac, decimals),
            "average_total_clv": None if clv is None else _money(clv, decimals),
            "clv_to_cac": _ratio(clv / cac) if clv is not None and cac else None,
            "payback_months": _ratio(cac / monthly) if cac is not None and monthly else None,
        }
    return out


def _cohorts(t: _Totals, first: int, last: int, decimals: int) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for c in sorted(m for m, n in t.cohort_one["cn"].items() if first <= m <= last and n > 0):
        n = t.cohort_one["cn"][c]
        retention, revenue, running = [], [], 0
        for k in range(last - c + 1):
            running += t.cohort["cr"].get((c, k), 0)
            retention.append(_ratio(Decimal(t.cohort["ca"].get((c, k), 0)) / n))
            revenue.append(_money(Decimal(running) / n, decimals))
        clv = _div(t.cohort_one["cv"].get(c, 0), t.cohort_one["cvn"].get(c, 0))
        out[month_name(c)] = {"customers": n, "retention": retention,
                              "revenue_per_customer": revenue,
                              "average_total_clv": None if clv is None else _money(clv, decimals)}
    return out


def transition_counts(totals: Mapping[str, int]) -> dict[str, list[dict[str, Any]]]:
    """Segment transitions so far, per dimension, most frequent first."""
    found: dict[str, list[dict[str, Any]]] = {}
    for field, n in totals.items():
        if n and field.startswith("tr:"):
            dim, old, new = field[3:].split("\t")
            found.setdefault(dim, []).append({"from": old or None, "to": new or None,
                                              "customers": n})
    return {dim: sorted(rows, key=lambda r: (-r["customers"], r["from"] or "", r["to"] or ""))
            for dim, rows in sorted(found.items())}
