"""Order files -> contract events: JSONL, CSV and the CDNOW master format."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

from clv_stream.events.validation import OrderValidator
from clv_stream.settings import Settings
from clv_stream.sources import iter_orders, synthetic_orders


def test_cdnow_lines_become_orders(tmp_path: Path) -> None:
    path = tmp_path / "cdnow.txt"
    path.write_text(" customer_id  date number_of_cds  dollar_value\n"
                    " 00001 19970101  1   11.77\n 00002 19970112  2   12.00\n"
                    " 00002 19970112  1   5.10\n\n", encoding="ascii")
    events = list(iter_orders(path, "cdnow"))
    assert [(e["customer_id"], e["order_id"], e["amount"], e["occurred_at"]) for e in events] == [
        ("00001", "00001-19970101-1", "11.77", "1997-01-01T00:00:00Z"),
        ("00002", "00002-19970112-1", "12.00", "1997-01-12T00:00:00Z"),
        ("00002", "00002-19970112-2", "5.10", "1997-01-12T00:00:00Z"),
    ]


def test_csv_and_jsonl_read_contract_fields(tmp_path: Path) -> None:
    csv_path = tmp_path / "orders.csv"
    csv_path.write_text("order_id,customer_id,amount,currency,occurred_at,event_type\n"
                        "o1,c1,10.00,USD,2024-01-01T00:00:00Z,\n"
                        "o1,c1,2.50,USD,2024-01-02T00:00:00Z,order_refunded\n", encoding="utf-8")
    rows = list(iter_orders(csv_path, "csv"))
    assert [(r["event_type"], r["schema_version"]) for r in rows] == [
        ("order_placed", 1), ("order_refunded", 1)]
    jsonl = tmp_path / "orders.jsonl"
    jsonl.write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n\n")
    assert list(iter_orders(jsonl, "jsonl")) == rows


def test_synthetic_shop_is_valid_and_deterministic() -> None:
    end = datetime(2025, 6, 1, tzinfo=UTC)
    first = list(synthetic_orders(30, seed=4, end=end))
    assert first == list(synthetic_orders(30, seed=4, end=end))
    assert first != list(synthetic_orders(30, seed=5, end=end))
    validator = OrderValidator(Settings())
    now = time.time()
    kinds = {validator.validate(orjson.dumps(e), now).kind for e in first}
    assert kinds <= {"p", "r", "c"}
    assert "p" in kinds
    times = [e["occurred_at"] for e in first]
    assert times == sorted(times)
