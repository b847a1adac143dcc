"""Portfolio report: the classic CLV figures for the whole customer base and per segment.

Per group: customers, orders, revenue, average order value (revenue / orders), purchase
frequency (orders / customers), customer value (AOV x frequency), lifespan (the configured
``lifespan_years``), traditional CLV (customer value x lifespan x margin), and the sums of
historic, predicted and total CLV. This first version scans every customer (SCAN, pages of
1,000); an incremental report maintained by the worker is planned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from clv_stream.pipeline import Pipeline
from clv_stream.store.redis_store import RedisStore

__all__ = ["Portfolio", "build_report"]


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


async def build_report(store: RedisStore, pipeline: Pipeline, lifespan_years: Decimal) -> dict[str, Any]:
    groups = _Groups()
    async for ids in store.scan_customer_ids():
        for view in await pipeline.customer_views(ids):
            value = view["value"]
            if value["orders"] <= 0:
                continue
            groups.overall.add(value)
            for dim, label in view["segments"].items():
                groups.by_segment.setdefault(dim, {}).setdefault(label, Portfolio()).add(value)
    return {
        "as_of": (await pipeline.as_of()),
        "currency": pipeline.currency,
        "model_version": pipeline.model.version,
        "overall": groups.overall.figures(lifespan_years),
        "segments": {
            dim: {label: p.figures(lifespan_years) for label, p in sorted(labels.items())}
            for dim, labels in sorted(groups.by_segment.items())
        },
    }
