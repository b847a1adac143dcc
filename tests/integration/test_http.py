"""The worker's HTTP API: customer lookup, segments, report, health, metrics, dashboard."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from clv_stream.devinfra import EmbeddedBroker, EmbeddedRedis
from clv_stream.events.models import CustomerValue
from clv_stream.sources import synthetic_orders
from tests.integration.harness import Harness


@pytest.fixture(scope="module")
async def served(kafka_broker: EmbeddedBroker, redis_server: EmbeddedRedis) -> Iterator[Harness]:
    with Harness.running(kafka_broker, redis_server) as h:
        await h.wait_applied(await h.produce_events(synthetic_orders(60, seed=5)))
        yield h


def _json(h: Harness, path: str) -> tuple[int, Any]:
    status, body = h.get(path)
    return status, json.loads(body)


def test_customer_lookup(served: Harness) -> None:
    status, body = _json(served, "/customers/cust-00001")
    assert status == 200
    CustomerValue.model_validate(body["value"])
    assert body["customer_id"] == "cust-00001"
    assert set(body["segments"]) == {"value_tier", "lifecycle", "rfm"}
    assert _json(served, "/customers/nobody")[0] == 404


def test_segments_and_report_agree(served: Harness) -> None:
    status, segments = _json(served, "/segments")
    assert status == 200
    _, report = _json(served, "/report")
    for dim, counts in segments["segments"].items():
        assert sum(counts.values()) == report["overall"]["customers"]
        assert counts == {k: v["customers"] for k, v in report["segments"][dim].items()}


def test_health_metrics_and_dashboard(served: Harness) -> None:
    assert _json(served, "/healthz") == (200, {"status": "ok", "model_version": "default"})
    status, metrics = served.get("/metrics")
    assert status == 200
    assert b'clv_orders_total{outcome="applied"}' in metrics
    status, page = served.get("/")
    assert status == 200
    assert b"<title>clv-stream</title>" in page
