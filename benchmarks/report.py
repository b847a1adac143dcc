"""Result tables: printed on stdout, saved as ``results/<section>.json`` and ``results/latest.md``."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import psutil

__all__ = ["RESULTS", "Table", "machine", "save"]

RESULTS = Path(__file__).resolve().parent / "results"


class Table:
    """A titled table of rows (dicts with the same keys), printed as Markdown."""

    def __init__(self, title: str, columns: list[str]) -> None:
        self.title, self.columns = title, columns
        self.rows: list[dict[str, Any]] = []
        self.notes: list[str] = []

    def add(self, **row: Any) -> None:
        self.rows.append(row)
        print("  " + "  ".join(f"{k}={_fmt(row.get(k))}" for k in self.columns), flush=True)

    def markdown(self) -> str:
        head = "| " + " | ".join(self.columns) + " |"
        rule = "|" + "|".join("---" for _ in self.columns) + "|"
        body = ["| " + " | ".join(_fmt(r.get(c)) for c in self.columns) + " |" for r in self.rows]
        notes = [f"\n{n}" for n in self.notes]
        return "\n".join([f"### {self.title}", "", head, rule, *body, *notes])


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def machine() -> dict[str, Any]:
    """What the figures were measured on, and how busy it was."""
    load = os.getloadavg()
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpu": platform.processor() or platform.machine(), "cores": psutil.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(), "loadavg_1_5_15": [round(x, 2) for x in load],
    }


def save(section: str, tables: list[Table], extra: dict[str, Any],
         results: Path = RESULTS) -> None:
    """Write ``<results>/<section>.json`` and rebuild ``<results>/latest.md`` from all sections."""
    results.mkdir(parents=True, exist_ok=True)
    payload = {"section": section, "machine": machine(), **extra,
               "tables": [{"title": t.title, "columns": t.columns, "rows": t.rows, "notes": t.notes}
                          for t in tables]}
    (results / f"{section}.json").write_text(json.dumps(payload, indent=2, default=str))
    _write_latest(results)


SECTIONS = ("throughput", "latency", "memory", "cpu", "soak", "scaleout", "platforms",
            "subscriptions", "redis_costs", "sink_costs")


def _write_latest(results: Path = RESULTS) -> None:
    parts = ["# clv-stream benchmark results", "",
             "Reproduce: `python -m benchmarks` (see docs/performance.md). One section per file"
             " in `benchmarks/results/`; each states the machine and its load when measured.", ""]
    tagged = sorted(p.stem for p in results.glob("*-*.json"))  # runs saved with --tag
    for section in (*SECTIONS, *tagged):
        path = results / f"{section}.json"
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        m = data["machine"]
        parts += [f"## {section}", "",
                  f"_{m['when']}, {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']},"
                  f" load average {m['loadavg_1_5_15']} at the end; command: `{data.get('command', '')}`_",
                  ""]
        for t in data["tables"]:
            table = Table(t["title"], t["columns"])
            table.rows, table.notes = t["rows"], t["notes"]
            parts += [table.markdown(), ""]
    (results / "latest.md").write_text("\n".join(parts))
