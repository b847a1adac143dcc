"""``clv-stream produce``: publish an orders file with kafka-python, showing progress."""

from __future__ import annotations

from pathlib import Path

import orjson
from kafka import KafkaProducer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from clv_stream.exceptions import BrokerError
from clv_stream.settings import Settings
from clv_stream.sources import count_orders, iter_orders
from clv_stream.worker.credentials import kafka_security

__all__ = ["progress_columns", "publish_file"]


class _Rate(ProgressColumn):
    """Events a second (rich's own speed columns are for bytes)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-/s" if speed is None else f"{speed:,.0f}/s", style="progress.data.speed")


def progress_columns() -> tuple[ProgressColumn, ...]:
    """The bar of ``produce``: done of total, rate, time so far and left."""
    return (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            _Rate(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())


def _producer(settings: Settings) -> KafkaProducer:
    return KafkaProducer(**kafka_security(settings).kafka_python(), acks="all", linger_ms=20,
                         batch_size=256 * 1024)


def publish_file(settings: Settings, path: Path, fmt: str, topic: str, console: Console) -> int:
    """Publish every order in ``path``, keyed by customer id; return how many were sent."""
    producer = _producer(settings)
    sent = 0
    failures: list[Exception] = []
    with Progress(*progress_columns(), console=console, transient=False) as progress:
        task = progress.add_task(f"{path.name} -> {topic}", total=count_orders(path, fmt))
        for event in iter_orders(path, fmt):
            key = str(event.get("customer_id", "")).encode()
            producer.send(topic, orjson.dumps(event), key=key).add_errback(failures.append)
            sent += 1
            if sent % 1000 == 0:
                progress.update(task, completed=sent)
        producer.flush()
        progress.update(task, completed=sent, total=sent)
    producer.close()
    if failures:
        raise BrokerError(f"{len(failures)} of {sent} orders were not published: {failures[0]}")
    return sent
