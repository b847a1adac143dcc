"""Rich tables for the CLI's human-readable output."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from rich import box
from rich.table import Table

__all__ = ["compact", "customer_table", "report_tables"]

#: (report field, short column header) for the per-segment tables.
REPORT_COLUMNS = (("customers", "cust."), ("orders", "orders"), ("revenue", "revenue"),
                  ("average_order_value", "AOV"), ("orders_per_customer", "ord/c"),
                  ("average_total_clv", "avg CLV"), ("total_clv", "total CLV"))
#: (field of a channel of the report's ``by_channel``, column header)
CHANNEL_COLUMNS = (("customers", "new cust."), ("spend", "spend"), ("cac", "CAC"),
                   ("average_total_clv", "avg CLV"), ("clv_to_cac", "CLV:CAC"),
                   ("payback_months", "payback mo."))
#: Months since the first order shown in the cohort table.
COHORT_MONTHS = (1, 2, 3, 6, 12)


def _figures(title: str, name: str, rows: Iterable[tuple[str, Any]]) -> Table:
    """A two-column table of named figures (None shown as "-")."""
    table = Table(title=title)
    table.add_column(name)
    table.add_column("value", justify="right")
    for key, value in rows:
        table.add_row(key, "-" if value is None else str(value))
    return table


def customer_table(view: dict[str, Any]) -> Table:
    return _figures(f"customer {view['customer_id']} as of {view['as_of']} "
                    f"({view['currency']}, model {view['model_version']})", "field",
                    [*view["value"].items(),
                     *((f"segment: {dim}", label) for dim, label in view["segments"].items())])


def compact(value: Any) -> str:
    """A figure short enough for a narrow column: ``123.45``, ``1,235``, ``12.3k``, ``4.2M``
    (two decimals below 1,000 only; ``--json`` has the exact figures)."""
    try:
        x = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    for least, unit, suffix in ((10**9, 10**9, "G"), (10**6, 10**6, "M"), (10**4, 10**3, "k")):
        if abs(x) >= least:
            return f"{x / unit:,.1f}{suffix}"
    return f"{x:,.0f}" if x == x.to_integral_value() or abs(x) >= 1000 else f"{x:.2f}"


def _narrow(title: str, caption: str | None = None) -> Table:
    # no vertical rules, no padding at the edges: readable in 80 columns
    return Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0),
                 caption=caption)


def report_tables(report: dict[str, Any]) -> list[Table]:
    kpis = _figures(f"Portfolio {report['period_start']} to {report['period_end']}, as of "
                    f"{report['as_of']} ({report['currency']}, model {report['model_version']})",
                    "figure", [*report["kpis"].items(),
                               *((key, report["overall"][key])
                                 for key in ("historic_clv", "predicted_clv", "total_clv"))])
    tables = [kpis]
    for dim, labels in report["segments"].items():
        # labels never cut, figures compact, no vertical rules: readable in 80 columns
        table = _narrow(f"by {dim}", "avg CLV: a customer's total CLV; total CLV: the sum")
        table.add_column(dim, no_wrap=True, min_width=max(map(len, [dim, *labels])))
        for _, header in REPORT_COLUMNS:
            table.add_column(header, justify="right", no_wrap=True)
        for label, figures in labels.items():
            table.add_row(label, *(compact(figures[c]) for c, _ in REPORT_COLUMNS))
        tables.append(table)
    if report.get("by_channel"):
        tables.append(_channel_table(report["by_channel"]))
    if report.get("cohorts"):
        tables.append(_cohort_table(report["cohorts"]))
    if report.get("subscriptions"):
        tables.extend(subscription_tables(report["subscriptions"], report["currency"]))
    return tables


def _channel_table(channels: dict[str, dict[str, Any]]) -> Table:
    table = _narrow("by acquisition channel (customers acquired in the period)")
    table.add_column("channel", no_wrap=True, min_width=max(map(len, ["channel", *channels])))
    for _, header in CHANNEL_COLUMNS:
        table.add_column(header, justify="right", no_wrap=True)
    for channel, figures in channels.items():
        table.add_row(channel, *("-" if figures[c] is None else compact(figures[c])
                                 for c, _ in CHANNEL_COLUMNS))
    return table


def _cohort_table(cohorts: dict[str, dict[str, Any]]) -> Table:
    table = _narrow("cohorts: share with an order k months after the first",
                    "avg CLV: total CLV per customer")
    table.add_column("cohort", no_wrap=True)
    table.add_column("cust.", justify="right")
    for k in COHORT_MONTHS:
        table.add_column(f"m{k}", justify="right")
    table.add_column("rev/c", justify="right")
    table.add_column("avg CLV", justify="right")
    for month, c in cohorts.items():
        retention = c["retention"]
        table.add_row(month, compact(c["customers"]),
                      *(f"{retention[k]:.0%}" if k < len(retention) else "" for k in COHORT_MONTHS),
                      compact(c["revenue_per_customer"][-1]),
                      "-" if c["average_total_clv"] is None else compact(c["average_total_clv"]))
    return table


#: (field of a month of the report's ``subscriptions``, column header)
MRR_COLUMNS = (("mrr_end", "MRR"), ("new", "new"), ("expansion", "expan."),
               ("contraction", "contr."), ("churned", "churned"), ("reactivation", "react."),
               ("net_new", "net new"))


def subscription_tables(subs: dict[str, Any], currency: str, months: int = 12) -> list[Table]:
    """The report's ``subscriptions``: the figures now, and the last ``months`` months'
    MRR movements and rates."""
    now = Table(title=f"Subscriptions ({currency})")
    now.add_column("figure")
    now.add_column("value", justify="right")
    for key in ("mrr", "arr", "active_subscribers", "arpu"):
        now.add_row(key, str(subs[key]))
    # the rates in a table of their own: with the movements, seven-character figures would
    # not fit 80 columns
    movements = _narrow("MRR movements by month")
    rates = _narrow("Churn and renewal by month")
    for table in (movements, rates):
        table.add_column("month", no_wrap=True)
    for _, header in MRR_COLUMNS:
        movements.add_column(header, justify="right", no_wrap=True)
    rates.add_column("logo churn", justify="right", no_wrap=True)
    rates.add_column("renewal rate", justify="right", no_wrap=True)
    for row in subs["months"][-months:]:
        movements.add_row(row["month"], *(compact(row[c]) for c, _ in MRR_COLUMNS))
        rates.add_row(row["month"], _percent(row["logo_churn"]), _percent(row["renewal_rate"]))
    return [now, movements, rates]


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1%}"


def tenants_table(tenants: dict[str, Any]) -> Table:
    """``clv-stream tenants``: customers and own settings per tenant."""
    table = Table(title=f"{len(tenants)} tenants")
    table.add_column("tenant")
    table.add_column("customers", justify="right")
    table.add_column("own settings")
    for tenant, row in tenants.items():
        own = ", ".join(f"{k}={v}" for k, v in row["settings"].items()) or "platform's"
        table.add_row(tenant, f"{row['customers']:,}", own)
    return table
