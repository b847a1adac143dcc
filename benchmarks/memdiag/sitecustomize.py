"""Where a live worker's memory is: a diagnostic, not part of the product.

Put this directory on the worker's ``PYTHONPATH``, as an absolute path (the benchmark passes
its environment on, and the worker runs in a directory of its own)
and, in the ``clv-stream worker`` process only, a daemon thread appends one JSON line every
20 s to ``$CLV_DIAG_OUT`` (default ``memdiag.jsonl``): RSS; glibc's ``mallinfo2`` (heap
bytes of all arenas, mapped blocks, in use, free); Python's allocated blocks and pymalloc's
arena count (``sys._debugmallocstats``; CPython returns a 1 MiB arena only when it is
empty); anonymous memory by mapping (``/proc/self/smaps``); and the worker's
``clv_batch_size`` histogram (its ``/metrics``)::

    PYTHONPATH=$PWD/benchmarks/memdiag CLV_DIAG_OUT=/tmp/mem.jsonl \\
        python -m benchmarks --only soak --soak-seconds 900 --tick-ms 100

Samples of earlier soaks are in git history (``benchmarks/results/ab-2026-11-24/memdiag/``).
"""

from __future__ import annotations

import sys

if "worker" in sys.argv:
    import ctypes
    import json
    import os
    import re
    import tempfile
    import threading
    import time
    import urllib.request
    from typing import Any

    class _MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                     "fsmblks", "uordblks", "fordblks", "keepcost")]

    _libc = ctypes.CDLL("libc.so.6")
    _libc.mallinfo2.restype = _MallInfo2
    _MAPPING = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) ")

    def _pymalloc_arenas() -> tuple[int, int]:
        """(current, highwater) arenas; ``_debugmallocstats`` writes to C's stderr."""
        saved = os.dup(2)
        with tempfile.TemporaryFile() as f:
            os.dup2(f.fileno(), 2)
            try:
                sys._debugmallocstats()
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            f.seek(0)
            text = f.read().decode(errors="replace")

        def count(label: str) -> int:
            m = re.search(rf"# arenas {label}\s*=\s*([\d,]+)", text)
            return int(m.group(1).replace(",", "")) if m else -1
        return count("allocated current"), count("highwater mark")

    def _mapping_class(size: int, path: str) -> str:
        if path == "[heap]":
            return "heap"
        if path.startswith("["):
            return path
        if path:
            return "file"
        for limit, name in ((2**20, "anon_<=1MiB"), (8 * 2**20, "anon_1-8MiB"),
                            (60 * 2**20, "anon_8-60MiB")):
            if size <= limit:
                return name
        return "anon_>60MiB"  # glibc's reservations for thread arenas

    def _anonymous_by_mapping() -> dict[str, tuple[float, int]]:
        """Anonymous MB and mapping count by kind (adjacent mappings may merge)."""
        found: dict[str, list[int]] = {}
        kind = ""
        with open("/proc/self/smaps") as f:
            for line in f:
                if m := _MAPPING.match(line):
                    parts = line.split()
                    size = int(m.group(2), 16) - int(m.group(1), 16)
                    kind = _mapping_class(size, parts[5] if len(parts) > 5 else "")
                elif line.startswith("Anonymous:") and kind:
                    entry = found.setdefault(kind, [0, 0])
                    entry[0] += int(line.split()[1])
                    entry[1] += 1
        return {k: (round(kb / 1024, 1), n) for k, (kb, n) in found.items()}

    def _batch_sizes() -> dict[str, float]:
        from prometheus_client.parser import text_string_to_metric_families

        port = os.environ.get("CLV_WEB_PORT", "6066")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                text = r.read().decode()
        except OSError:
            return {}
        return {sample.labels["le"]: sample.value
                for family in text_string_to_metric_families(text)
                if family.name == "clv_batch_size"
                for sample in family.samples if sample.name.endswith("_bucket")}

    def _rss_mb() -> float:
        with open("/proc/self/status") as f:
            line = next(line for line in f if line.startswith("VmRSS"))
        return round(int(line.split()[1]) / 1024, 1)

    def _sample(start: float) -> dict[str, Any]:
        mi = _libc.mallinfo2()
        return {"t": round(time.monotonic() - start), "rss": _rss_mb(),
                "arena": round(mi.arena / 2**20, 1), "hblkhd": round(mi.hblkhd / 2**20, 1),
                "hblks": mi.hblks, "inuse": round(mi.uordblks / 2**20, 1),
                "free": round(mi.fordblks / 2**20, 1), "keep": round(mi.keepcost / 2**20, 1),
                "blocks": sys.getallocatedblocks(), "py_arenas": _pymalloc_arenas(),
                "threads": threading.active_count(), "smaps": _anonymous_by_mapping(),
                "batch_size": _batch_sizes()}

    def _run() -> None:
        path = os.environ.get("CLV_DIAG_OUT", "memdiag.jsonl")
        start = time.monotonic()
        while True:
            time.sleep(20)
            with open(path, "a") as f:
                f.write(json.dumps(_sample(start)) + "\n")

    threading.Thread(target=_run, daemon=True, name="memdiag").start()
