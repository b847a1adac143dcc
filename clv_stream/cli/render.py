"""Rich tables for the CLI's human-readable output."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from rich import box
from rich.table import Table

__all__ = ["compact", "customer_table", "report_tables"]

#: (report field, short column header) for the per-segment tables.
REPORT_COLUMNS = (("customers", "cust."), ("orders", "orders"), ("revenue", "revenue"),
                  ("average_order_value", "AOV"), ("purchase_frequency", "freq."),
                  ("traditional_clv", "trad CLV"), ("total_clv", "total CLV"))


def customer_table(view: dict[str, Any]) -> Table:
    table = Table(title=f"customer {view['customer_id']} as of {view['as_of']} "
                        f"({view['currency']}, model {view['model_version']})")
    table.add_column("field")
    table.add_column("value", justify="right")
    for key, value in view["value"].items():
        table.add_row(key, "-" if value is None else str(value))
    for dim, label in view["segments"].items():
        table.add_row(f"segment: {dim}", label)
    return table


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


def report_tables(report: dict[str, Any]) -> list[Table]:
    overall = Table(title=f"Portfolio as of {report['as_of']} ({report['currency']}, "
                          f"model {report['model_version']})")
    overall.add_column("figure")
    overall.add_column("value", justify="right")
    for key, value in report["overall"].items():
        overall.add_row(key, str(value))
    tables = [overall]
    for dim, labels in report["segments"].items():
        # labels never cut, figures compact, no vertical rules: readable in 80 columns
        table = Table(title=f"by {dim}", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0),
                      caption="trad CLV: a customer's; total CLV: the segment's sum")
        table.add_column(dim, no_wrap=True, min_width=max(map(len, [dim, *labels])))
        for _, header in REPORT_COLUMNS:
            table.add_column(header, justify="right", no_wrap=True)
        for label, figures in labels.items():
            table.add_row(label, *(compact(figures[c]) for c, _ in REPORT_COLUMNS))
        tables.append(table)
    if report.get("subscriptions"):
        tables.extend(subscription_tables(report["subscriptions"], report["currency"]))
    return tables


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
    table = Table(title="MRR movements by month", box=box.SIMPLE_HEAD, pad_edge=False,
                  padding=(0, 1, 0, 0), caption="churn: logo churn; renew.: renewal rate")
    table.add_column("month", no_wrap=True)
    for _, header in MRR_COLUMNS:
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("churn", justify="right", no_wrap=True)
    table.add_column("renew.", justify="right", no_wrap=True)
    for row in subs["months"][-months:]:
        table.add_row(row["month"], *(compact(row[c]) for c, _ in MRR_COLUMNS),
                      _percent(row["logo_churn"]), _percent(row["renewal_rate"]))
    return [now, table]


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
