"""Scenario 5: the broker unreachable for ``PAUSE_S`` while orders flow. The embedded broker
keeps its topics in memory, so it is not restarted: its process is SIGSTOPped (connections
stay open, nothing answers: a network partition as the worker sees it), then SIGCONTinued.
The worker must ride it out in the same process, and end equal to the batch."""

from __future__ import annotations

import time
from collections import Counter

from clv_stream.devinfra import EmbeddedBroker, EmbeddedRedis
from tests.reliability.rig import (
    Rig,
    background,
    crash_reason,
    exit_code,
    make_orders,
    observe,
    paused,
    pick,
    scenario,
    wait_until,
)

PAUSE_S = pick(5.0, 20.0)
RATE = 300.0
SEED = 20265


async def test_broker_unreachable(own_broker: EmbeddedBroker, rel_redis: EmbeddedRedis) -> None:
    async with scenario("broker_paused") as sc:
        rig = sc.rig = Rig(own_broker, rel_redis, batch_max_records=200)
        try:
            records = int(RATE * (PAUSE_S + 6))  # orders flow before, during and after
            events = make_orders("bp-", customers=records // 5, orders=int(records / 1.15),
                                 seed=SEED)
            worker = await rig.aspawn()
            pid = worker.pid
            # the producer's requests wait out the pause (its request timeout is 120 s)
            producing = background(rig.publish(events, rate=len(events) / (PAUSE_S + 6)))
            start = int(RATE * 1.5)

            async def flowing() -> bool:
                return await rig.applied_count() >= start

            assert await wait_until(flowing, limit_s=60), f"orders not flowing (harness)\n{rig.logs()}"
            assert own_broker.pid is not None
            with paused(own_broker):
                seen = await observe(worker, PAUSE_S)
            resumed = time.monotonic()
            high = await producing
            settled = await rig.settle(high, limit_s=pick(120, 300))
            sc.set(pause_s=PAUSE_S, broker_pid=own_broker.pid,
                   recovered_s=round(time.monotonic() - resumed, 1),
                   healthz_paused="/".join(f"{k}:{n}" for k, n in Counter(
                       str(o["status"]).replace(" ", "_") for o in seen).items()))
            sc.check(settled, f"not settled: applied {await rig.applied()}, committed "
                     f"{await rig.committed()}, published up to {high}")
            sc.check(worker.running and all(o["alive"] for o in seen),
                     f"the worker exited (code {exit_code(worker)}): {crash_reason(worker)}")
            sc.check(rig.runs == 1 and worker.pid == pid, "the worker was restarted")
            await sc.judge(rig)
        finally:
            rig.close()
