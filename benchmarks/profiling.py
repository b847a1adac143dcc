"""py-spy around a measured process: record while it works, then summarise where time went.

``Profiler(pid, path)`` starts ``py-spy record --format raw`` (collapsed stacks) on the
process; :meth:`Profiler.stop` ends it (SIGINT, so py-spy writes its file) and returns the
share of samples by leaf frame and by a few inclusive buckets of the worker's hot path.
"""

from __future__ import annotations

import logging
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

__all__ = ["Profiler", "summarise"]

logger = logging.getLogger(__name__)

#: Inclusive buckets: a sample counts for the first bucket whose marker is on its stack.
BUCKETS = (
    ("validate", "OrderValidator.validate ("),
    ("redis apply (call + parse)", "RedisStore.apply ("),
    ("score previous values", "Emitter._rescore_previous ("),
    ("score current values", "score (clv_stream/domain/value.py"),
    ("build output records", "Emitter.build ("),  # the scoring thread, less the above
    ("produce (sink)", "KafkaSink.send ("),
    ("confirm (publish)", "RedisStore.publish ("),
    ("consume (aiokafka fetch/parse)", "aiokafka/consumer"),
    ("producer internals (aiokafka)", "aiokafka/producer"),
)
#: A sample whose innermost Python frame is one of these was waiting in the event loop.
IDLE = ("Worker.execute_from_commandline (", "_run_once (", "select (")


class Profiler:
    def __init__(self, pid: int, path: Path, rate: int = 250) -> None:
        exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        self.path = path
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives until stop()
        self._proc = subprocess.Popen(
            [exe, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
             "--output", str(path), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=self._log)
        time.sleep(0.3)

    def stop(self) -> dict[str, float]:
        self._proc.send_signal(signal.SIGINT)
        try:
            self._proc.wait(30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        self._log.seek(0)
        said = self._log.read().decode(errors="replace").strip()
        self._log.close()
        if not self.path.exists():  # e.g. py-spy could not attach: say why, not nothing
            logger.warning("py-spy wrote no profile (exit %s): %s", self._proc.returncode,
                           said[-500:] or "no output")
            return {}
        return summarise(self.path)


def summarise(path: Path, top: int = 25) -> dict[str, float]:
    """Percent of samples per bucket (inclusive) and per leaf function (self time)."""
    buckets: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        idle = frames[-1].startswith(IDLE)
        name = "idle (event loop)" if idle else next(
            (b for b, marker in BUCKETS if marker in stack), "other")
        buckets[name] += n
        leaves[_short(frames[-1])] += n
    if not total:
        return {}
    out = {f"bucket: {k}": round(100 * v / total, 1) for k, v in buckets.most_common()}
    out.update({f"self: {k}": round(100 * v / total, 1) for k, v in leaves.most_common(top)})
    return out


def _short(frame: str) -> str:
    # "func (path/to/module.py:123)" -> "func (module.py)"
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit('/', 1)[-1].split(':')[0]})" if where else name
