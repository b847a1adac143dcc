"""The benchmark runner works on a clean machine: ``python -m benchmarks`` starts its own
stack, runs our worker, the naive Faust peer and the pass-through ceilings over the same
orders, and writes its table.

A small run (3,000 CDNOW orders, 300 for the naive peer): this checks that the runner and
the peers run, not their speed. The Quix peer needs the ``bench`` extra and is left out.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_the_runner_measures_our_worker_and_the_peers_on_the_same_orders(
    tmp_path: Path,
) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--only", "throughput", "--workloads", "cdnow",
         "--orders", "3000", "--peers", "naive,ceiling,ceiling-volume", "--naive-orders", "300",
         "--tp-batches", "1000", "--repeat", "1", "--results-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    rows = {r["system"]: r for r in json.loads(
        (tmp_path / "throughput.json").read_text())["tables"][0]["rows"]}
    ours, naive = rows["clv-stream worker, batch 1000"], rows["naive faust peer"]
    assert ours["orders"] == 3000
    assert ours["orders_per_s"] > 0
    assert ours["outputs"] > 0
    assert naive["orders"] == naive["outputs"] == 300
    assert ours["vs_naive"] == pytest.approx(ours["orders_per_s"] / naive["orders_per_s"])
    assert "| cdnow | naive faust peer |" in (tmp_path / "latest.md").read_text()
    # the ceilings, measured like the others; the second carries our output volume
    ceiling = rows["pass-through ceiling (no work)"]
    volume = rows["pass-through ceiling, our output volume"]
    for row in (ours, naive, ceiling, volume):
        assert row["orders_per_s"] > 0
        assert row["cpu_s_per_1k"] >= 0
        assert row["broker_cpu_s_per_1k"] >= 0
    # CPU counts in 10 ms ticks: only the windows of a few hundred ms are sure to show some
    # (the ceilings pass 3,000 orders in ~20 ms)
    assert ours["cpu_s_per_1k"] > 0
    assert naive["cpu_s_per_1k"] > 0
    assert naive["broker_cpu_s_per_1k"] > 0
    assert ceiling["outputs"] == 3000
    assert volume["outputs"] == pytest.approx(ours["outputs"], abs=1)
    assert volume["out_bytes_per_order"] == pytest.approx(ours["out_bytes_per_order"], rel=0.05)
