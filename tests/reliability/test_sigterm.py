"""Scenario 9: SIGTERM while a dependency is down (SIGSTOPped: requests hang, nothing
answers), once with the broker down and once with Redis down. The worker must exit within
its shutdown timeout (``CLV_SHUTDOWN_TIMEOUT``) plus a small margin, and after a restart
with the dependency back nothing may be lost or counted twice."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from datetime import timedelta

import pytest

from clv_stream.devinfra import EmbeddedBroker, EmbeddedRedis
from tests.reliability.rig import (
    Rig,
    background,
    crash_reason,
    exit_code,
    make_orders,
    merge_high,
    pick,
    scenario,
    signal_group,
    wait_until,
)

SHUTDOWN_S = pick(5.0, 10.0)  # CLV_SHUTDOWN_TIMEOUT given to the worker (default 10 s)
DEFAULT_SHUTDOWN_S = 10.0  # what the worker is to default to, when it has no such setting
MARGIN_S = 3.0  # the interpreter's own exit, after the worker's shutdown
HOLD_S = 1.0  # the dependency is down this long before SIGTERM: requests hang meanwhile
ORDERS = pick(2_000, 8_000)
RATE = 300.0
SEED = 20269


@pytest.mark.parametrize("down", ["broker", "redis"])
async def test_sigterm_with_a_dependency_down(down: str, own_broker: EmbeddedBroker,
                                              own_redis: Callable[..., EmbeddedRedis]) -> None:
    async with scenario(f"sigterm_{down}_down") as sc:
        redis = own_redis()
        rig = sc.rig = Rig(own_broker, redis, batch_max_records=200, shutdown_timeout=SHUTDOWN_S)
        configured = getattr(rig.settings, "shutdown_timeout", None)
        if isinstance(configured, timedelta):
            configured = configured.total_seconds()
        budget = float(configured) if configured is not None else DEFAULT_SHUTDOWN_S
        server = own_broker if down == "broker" else redis
        try:
            events = make_orders(f"st{down[0]}-", customers=ORDERS // 4, orders=ORDERS,
                                 seed=SEED)
            first, second = events[:len(events) * 2 // 3], events[len(events) * 2 // 3:]
            worker = await rig.aspawn()
            producing = background(rig.publish(first, rate=RATE))
            start = int(RATE)

            async def flowing() -> bool:
                return await rig.applied_count() >= start

            async def gone() -> bool:
                return not worker.running

            assert await wait_until(flowing, limit_s=60), f"orders not flowing (harness)\n{rig.logs()}"
            signal_group(server, signal.SIGSTOP)
            try:
                await asyncio.sleep(HOLD_S)  # a deliberate outage before the SIGTERM
                assert worker.running, f"the worker exited before SIGTERM: {crash_reason(worker)}"
                assert worker.pid is not None
                os.kill(worker.pid, signal.SIGTERM)  # as an orchestrator stops a container
                sent = time.monotonic()
                exited = await wait_until(gone, limit_s=budget + MARGIN_S + 5, interval_s=0.05)
                took = time.monotonic() - sent
                code = exit_code(worker)
                if not exited:
                    rig.kill9(worker)
            finally:
                signal_group(server, signal.SIGCONT)
            worker.stop()  # reaps it
            high = await producing
            await rig.aspawn()
            high = merge_high(high, await rig.publish(second))
            settled = await rig.settle(high, limit_s=pick(120, 300))
            sc.set(shutdown_timeout_s=budget if configured is not None else "unset",
                   exit_s=round(took, 2) if exited else f">{took:.0f}", exit_code=code)
            sc.check(exited and took <= budget + MARGIN_S,
                     f"after SIGTERM with the {down} down the worker "
                     + (f"took {took:.1f} s to exit" if exited else f"had not exited after {took:.1f} s")
                     + f" (shutdown timeout {budget} s + {MARGIN_S} s margin)"
                     + ("" if configured is not None else "; it has no shutdown_timeout setting"))
            sc.check(settled, f"not settled after the restart: applied {await rig.applied()}, "
                     f"committed {await rig.committed()}, published up to {high}")
            await sc.judge(rig)
        finally:
            rig.close()
