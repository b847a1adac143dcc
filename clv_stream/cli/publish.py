"""``clv-stream produce``: publish an orders file with kafka-python, showing progress."""

from __future__ import annotations

from pathlib import Path

import orjson
from kafka import KafkaProducer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from clv_stream.settings import Settings
from clv_stream.sources import iter_orders

__all__ = ["publish_file"]


def _producer(settings: Settings) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        security_protocol=settings.kafka_security_protocol,
        acks="all", linger_ms=20, batch_size=256 * 1024,
    )


def publish_file(settings: Settings, path: Path, fmt: str, topic: str, console: Console) -> int:
    """Publish every order in ``path``, keyed by customer id; return how many were sent."""
    producer = _producer(settings)
    sent = 0
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(f"{path.name} -> {topic}", total=None)
        for event in iter_orders(path, fmt):
            key = str(event.get("customer_id", "")).encode()
            producer.send(topic, orjson.dumps(event), key=key)
            sent += 1
            if sent % 1000 == 0:
                progress.update(task, completed=sent)
        producer.flush()
        progress.update(task, completed=sent, total=sent)
    producer.close()
    return sent
