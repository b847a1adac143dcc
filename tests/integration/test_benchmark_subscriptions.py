"""The ``subscriptions`` benchmark section runs: the mixed stream and the orders-only one,
the same number of events, each through a worker, with nothing dead-lettered.

A small run (3,000 events, one pair): this checks that the section runs, not its speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_the_mixed_stream_and_the_orders_only_one_are_measured_in_pairs(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--only", "subscriptions", "--orders", "3000",
         "--repeat", "1", "--results-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    rows = {r["workload"]: r for r in json.loads(
        (tmp_path / "subscriptions.json").read_text())["tables"][0]["rows"]}
    orders, mixed = rows["orders only"], rows["mixed"]
    assert orders["events"] == mixed["events"] == 3000
    assert orders["subscription_events"] == 0
    assert mixed["subscription_events"] == 900
    assert orders["deadletters"] == mixed["deadletters"] == 0
    # one pair: its ratio is the ratio of the two rows
    assert mixed["vs_orders_only"] == pytest.approx(mixed["events_per_s"] / orders["events_per_s"])
    assert mixed["goal_met"] == ("yes" if mixed["vs_orders_only"] >= 0.8 else "no")
    for row in (orders, mixed):
        assert row["records_per_event"] > 0
        assert row["us_worker_per_event"] > 0
    assert "| mixed | 3,000 |" in (tmp_path / "latest.md").read_text()
