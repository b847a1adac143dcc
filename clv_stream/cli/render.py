"""Rich tables for the CLI's human-readable output."""

from __future__ import annotations

from typing import Any

from rich.table import Table

__all__ = ["customer_table", "report_tables"]

#: (report field, short column header) for the per-segment tables.
REPORT_COLUMNS = (("customers", "cust."), ("orders", "orders"), ("revenue", "revenue"),
                  ("average_order_value", "AOV"), ("purchase_frequency", "freq."),
                  ("traditional_clv", "trad. CLV"), ("total_clv", "total CLV"))


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


def report_tables(report: dict[str, Any]) -> list[Table]:
    overall = Table(title=f"Portfolio as of {report['as_of']} ({report['currency']}, "
                          f"model {report['model_version']})")
    overall.add_column("figure")
    overall.add_column("value", justify="right")
    for key, value in report["overall"].items():
        overall.add_row(key, str(value))
    tables = [overall]
    for dim, labels in report["segments"].items():
        table = Table(title=f"by {dim}")
        table.add_column(dim)
        for _, header in REPORT_COLUMNS:
            table.add_column(header, justify="right")
        for label, figures in labels.items():
            table.add_row(label, *(str(figures[c]) for c, _ in REPORT_COLUMNS))
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
    table = Table(title="MRR movements by month")
    table.add_column("month")
    for _, header in MRR_COLUMNS:
        table.add_column(header, justify="right")
    table.add_column("logo churn", justify="right")
    table.add_column("renewal", justify="right")
    for row in subs["months"][-months:]:
        table.add_row(row["month"], *(str(row[c]) for c, _ in MRR_COLUMNS),
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
