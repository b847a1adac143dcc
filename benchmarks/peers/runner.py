"""Start a peer as a child process and measure it until it has produced what it should."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from benchmarks.harness import Bench, CpuTrace, OutRecord, read_all
from clv_stream.devinfra.ports import free_port

__all__ = ["PeerRun", "run_peer"]

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class PeerRun:
    outputs: int
    first_ms: int
    last_ms: int
    cpu_s: float

    steady: float
    fanout: float = 1.0  # records produced per order, on average
    out_bytes: int = 0  # of the records' values
    broker_cpu_s: float = 0.0
    redis_cpu_s: float = 0.0

    @property
    def orders(self) -> int:
        return round(self.outputs / self.fanout)

    @property
    def rate(self) -> float:
        """Orders per second, first output to last."""
        return self.orders / max((self.last_ms - self.first_ms) / 1000, 1e-3)


def _spawn(argv: list[str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


async def _read_while_alive(proc: subprocess.Popen[bytes], bench: Bench, topic: str,
                            expect: int, limit_s: float,
                            ) -> tuple[list[OutRecord], CpuTrace | None]:
    """Read the peer's output, tracing the CPU of the peer, the broker and redis-server."""
    async with CpuTrace({"peer": proc.pid, "broker": bench.broker.pid,
                         "redis": bench.redis.pid}) as trace:
        reading = asyncio.create_task(read_all(bench.broker.bootstrap, topic, expect=expect,
                                               idle_s=30.0, limit_s=limit_s))
        while not reading.done():
            await asyncio.wait([reading], timeout=0.1)
            if proc.poll() is not None and not reading.done():
                reading.cancel()
                return [], None
    return reading.result(), trace


async def run_peer(bench: Bench, peer: str, orders_topic: str, expect: int,
                   limit_s: float = 900.0, extra: tuple[str, ...] = (),
                   fanout: float = 1.0) -> PeerRun:
    """Run ``benchmarks.peers.<peer>`` on ``orders_topic`` until ``expect`` outputs
    (``fanout`` of them per order)."""
    tag = f"{peer}-{free_port()}"
    output = f"{tag}.out"
    bench.broker.create_topics([output], partitions=4)
    argv = [sys.executable, "-m", f"benchmarks.peers.{peer}", "--bootstrap", bench.broker.bootstrap,
            "--input", orders_topic, "--output", output, "--group", f"{tag}-g", *extra]
    with tempfile.TemporaryDirectory(prefix="clv-peer-") as tmp:
        if peer == "naive_faust":
            argv += ["--redis", bench.redis.url]
        else:
            argv += ["--state-dir", tmp]
        log = (Path(tmp) / "peer.log").open("wb")
        proc = _spawn(argv, log)
        started = time.monotonic()
        try:
            records, trace = await _read_while_alive(proc, bench, output, expect, limit_s)
        finally:
            proc.terminate()
            await asyncio.to_thread(proc.wait, 20)
            log.close()
            tail = (Path(tmp) / "peer.log").read_text()[-3000:]
        bench.drop_topics([output])
        if len(records) < expect:
            raise RuntimeError(f"{peer} produced {len(records)} of {expect}; log tail:\n{tail}")
    out_bytes = sum(len(r.value) for r in records[:expect])
    stamps = sorted(r.timestamp_ms for r in records)[:expect]
    logger.info("%s: %s outputs in %.1fs wall", peer, len(records), time.monotonic() - started)
    n = len(stamps)
    steady = 0.8 * n / fanout / max((stamps[n * 9 // 10] - stamps[n // 10]) / 1000, 1e-3)
    assert trace is not None
    cpu = trace.between(stamps[0] / 1000, stamps[-1] / 1000)  # the window of the rate
    return PeerRun(n, stamps[0], stamps[-1], cpu.get("peer", 0.0), steady, fanout, out_bytes,
                   cpu.get("broker", 0.0), cpu.get("redis", 0.0))
