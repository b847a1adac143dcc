"""The CLI's tables read whole in an 80-column terminal: no label or figure is cut."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from rich.console import Console
from rich.progress import Progress

from clv_stream.cli.publish import progress_columns
from clv_stream.cli.render import compact, report_tables
from clv_stream.domain.segments.registry import SCHEMES
from clv_stream.sources import count_orders, iter_orders
from tests.corpus import order

BIG = {"customers": 1_234_567, "orders": 9_876_543, "revenue": "987654321.09",
       "average_order_value": "999.99", "purchase_frequency": "12.3456",
       "traditional_clv": "99999.99", "total_clv": "98765432109.87", "customer_value": "1.00",
       "lifespan_years": "3", "margin": "0.3500", "historic_clv": "1.00", "predicted_clv": "1.00"}
SEGMENT = {"customers": 1_234_567, "orders": 9_876_543, "revenue": "987654321.09",
           "average_order_value": "999.99", "orders_per_customer": 12.3456,
           "average_total_clv": "99999.99", "total_clv": "98765432109.87"}
KPIS = {"customers": 1_234_567, "active_customers": 1_000_000, "orders": 9_876_543,
        "revenue": "987654321.09", "repeat_purchase_rate": 0.4567, "retention_rate": None,
        "traditional_clv": "99999.99"}
CHANNEL = {"customers": 123_456, "spend": "98765432.10", "cac": "999.99",
           "average_total_clv": "99999.99", "clv_to_cac": 12.3456, "payback_months": None}
COHORT = {"customers": 123_456, "retention": [1.0, 0.25, 0.2, 0.15, 0.1, 0.1, 0.09],
          "revenue_per_customer": ["12345.67"] * 7, "average_total_clv": "99999.99"}
#: every money figure as wide as compact() makes one ("-999.99", "-123.5k")
MONTH = {"month": "2026-11", "mrr_end": "999.99", "new": "-999.99", "expansion": "-123456.78",
         "contraction": "-999.99", "churned": "-123456.78", "reactivation": "-999.99",
         "net_new": "-123456.78", "logo_churn": 0.123456, "renewal_rate": 0.987654}


def _rendered(report: dict[str, Any]) -> str:
    console = Console(width=80, record=True, color_system=None)
    for table in report_tables(report):
        console.print(table)
    return console.export_text()


def test_the_report_fits_80_columns_without_cutting_anything() -> None:
    report = {"as_of": "2026-12-03T00:00:00Z", "currency": "USD", "model_version": "v1",
              "period_start": "2025-12", "period_end": "2026-12", "kpis": KPIS,
              "overall": BIG,
              "segments": {s.name: {label: SEGMENT for label in s.vocabulary if label}
                           for s in SCHEMES},
              "by_channel": {"newsletter-partner": CHANNEL, "unknown": CHANNEL},
              "cohorts": {"2026-06": COHORT, "2026-12": {**COHORT, "retention": [1.0]}},
              "subscriptions": {"mrr": "1.00", "arr": "12.00", "active_subscribers": 1,
                                "arpu": "1.00",
                                "months": [MONTH] * 11 + [{**MONTH, "logo_churn": 1.0,
                                                           "renewal_rate": 1.0}]}}
    text = _rendered(report)
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    for scheme in SCHEMES:
        for label in scheme.vocabulary:
            assert f" {label} " in text or not label
    assert "newsletter-partner" in text
    assert "2026-06" in text
    assert "100.0%" in text
    assert "98.8%" in text


@pytest.mark.parametrize(("value", "shown"), [
    (0, "0"), ("123.45", "123.45"), ("999.994", "999.99"), ("1234.56", "1,235"), (12345, "12.3k"),
    ("987654321.09", "987.7M"), ("-123456.78", "-123.5k"), ("98765432109.87", "98.8G"),
    ("2.3456", "2.35"), ("n/a", "n/a"),
])
def test_compact_figures(value: Any, shown: str) -> None:
    assert compact(value) == shown


def test_produce_counts_the_events_its_bar_goes_to(tmp_path: Path) -> None:
    jsonl = tmp_path / "o.jsonl"
    jsonl.write_text("".join(orjson.dumps(order(order_id=f"o{i}")).decode() + "\n" for i in range(5))
                     + "\n")
    csv = tmp_path / "o.csv"
    csv.write_text("order_id,customer_id,amount,currency,occurred_at\n"
                   + "".join(f"o{i},c,1.00,USD,2024-01-01T00:00:00Z\n" for i in range(3)))
    for path, fmt in ((jsonl, "jsonl"), (csv, "csv")):
        assert count_orders(path, fmt) == len(list(iter_orders(path, fmt)))


def test_the_produce_bar_shows_done_total_rate_and_eta() -> None:
    console = Console(width=120, record=True, color_system=None)
    with Progress(*progress_columns(), console=console, auto_refresh=False) as progress:
        task = progress.add_task("orders.jsonl -> orders", total=1000)
        progress.update(task, completed=250)
        progress.refresh()
    text = console.export_text()
    assert "250/1000" in text
    assert "/s" in text
    assert "ETA" in text
