"""``clv-stream demo``: feed a synthetic shop's orders and print the events as they happen."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from rich.console import Console

from clv_stream.cli.render import report_tables
from clv_stream.events.topics import output_topics
from clv_stream.pipeline import CustomerViews
from clv_stream.report import build_report
from clv_stream.settings import Settings
from clv_stream.sources import synthetic_orders, synthetic_spend, synthetic_subscriptions
from clv_stream.store.factory import open_store
from clv_stream.worker.credentials import kafka_security

__all__ = ["run_demo"]

#: A few broken messages, so the dead-letter topic shows up in the demo too.
BAD_MESSAGES = [
    b"{not json",
    b'{"schema_version": 1, "event_type": "order_placed", "order_id": "x1", '
    b'"customer_id": "cust-bad", "amount": "-5.00", "currency": "USD", '
    b'"occurred_at": "2025-01-01T00:00:00Z"}',
    b'{"schema_version": 1, "event_type": "order_placed", "order_id": "x2", '
    b'"customer_id": "cust-bad", "amount": "5.00", "currency": "XYZ", '
    b'"occurred_at": "2025-01-01T00:00:00Z"}',
]


async def run_demo(settings: Settings, console: Console, *, customers: int, rate: float) -> None:
    """A mixed shop: ``customers`` buying, and a tenth as many subscribers besides."""
    subscribers = max(1, customers // 10)
    end = datetime.now(UTC).replace(microsecond=0)
    shop = list(synthetic_orders(customers, end=end))
    orders = sorted([*shop, *synthetic_spend(shop), *synthetic_subscriptions(subscribers, end=end)],
                    key=lambda e: datetime.fromisoformat(e["occurred_at"]))
    console.print(f"[bold]Feeding {len(orders)} events of {customers} customers and "
                  f"{subscribers} subscribers at ~{rate:.0f}/s[/] (plus {len(BAD_MESSAGES)} "
                  "broken messages)")
    printer = asyncio.create_task(_print_events(settings, console))
    await _feed(settings, orders, rate)
    await _settle(printer)
    await _print_report(settings, console)


async def _feed(settings: Settings, orders: list[dict[str, Any]], rate: float) -> None:
    producer = AIOKafkaProducer(**kafka_security(settings).aiokafka(), linger_ms=5)
    await producer.start()
    try:
        started = time.monotonic()
        for i, event in enumerate(orders):
            await producer.send(settings.topic_orders, orjson.dumps(event),
                                key=str(event.get("customer_id") or event["channel"]).encode())
            if i == len(orders) // 2:
                for bad in BAD_MESSAGES:
                    await producer.send(settings.topic_orders, bad, key=b"cust-bad")
            ahead = (i + 1) / rate - (time.monotonic() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)
        await producer.flush()
    finally:
        await producer.stop()


class _Quiet:
    last_event = time.monotonic()
    seen = 0


async def _settle(printer: asyncio.Task[None], quiet_s: float = 4.0, limit_s: float = 60) -> None:
    deadline = time.monotonic() + limit_s
    _Quiet.last_event = time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - _Quiet.last_event < quiet_s:  # noqa: ASYNC110
        await asyncio.sleep(0.5)
    printer.cancel()


async def _print_events(settings: Settings, console: Console) -> None:
    consumer = AIOKafkaConsumer(**kafka_security(settings).aiokafka(),
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        topics = output_topics(settings)
        consumer.assign([TopicPartition(t, p) for t in topics
                         for p in range(settings.topic_partitions)])
        async for msg in consumer:
            _Quiet.last_event, _Quiet.seen = time.monotonic(), _Quiet.seen + 1
            console.print(_line(msg.topic, orjson.loads(msg.value), settings), highlight=False,
                          soft_wrap=True)
    finally:
        await consumer.stop()


def _line(topic: str, event: dict[str, Any], settings: Settings) -> str:
    if topic == settings.topic_updates:
        cur, prev = event["current"], event["previous"]
        before = prev["total_clv"] if prev else "—"
        if cur["subscription"] is not None and not cur["orders"]:
            sub = cur["subscription"]
            return (f"[cyan]clv[/]      {event['customer_id']:<11} "
                    f"{event['cause'].removeprefix('subscription_'):<16}total {before:>8} → "
                    f"{cur['total_clv']:>8}  mrr {sub['mrr']:>7}  renewals {sub['renewals']}")
        return (f"[cyan]clv[/]      {event['customer_id']:<11} {event['cause']:<16}"
                f"total {before:>8} → {cur['total_clv']:>8} ({_signed(event['delta_clv']):>9})  "
                f"orders {cur['orders']:>2}  p_alive {cur['p_alive']:.2f}  "
                f"churn {cur['churn_risk_band']}")
    if topic == settings.topic_segments:
        return (f"[magenta]segment[/]  {event['customer_id']:<11} {event['dimension']:<11}"
                f"{event['from'] or '—':>8} → {event['to']}")
    return (f"[red]dead-letter[/] offset {event['offset']}: {event['error']['code']} "
            f"({event['error']['message'][:60]})")


def _signed(amount: str) -> str:
    return amount if amount.startswith("-") else f"+{amount}"


async def _print_report(settings: Settings, console: Console) -> None:
    store = open_store(settings)
    try:
        views = CustomerViews(settings, store, model=await store.current_model())
        await views.set_tenants()
        report = await build_report(store, views, settings.lifespan_years,
                                    tenant=settings.default_tenant)
    finally:
        await store.close()
    console.print(f"\n[bold]{_Quiet.seen} events seen on the output topics.[/]")
    for table in report_tables(report):
        console.print(table)
