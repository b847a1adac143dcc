"""Scenario 1: the worker is killed with ``kill -9`` at seeded random points of a stream of
orders and restarted each time; nothing may be lost or counted twice, and the update
chains must hold (exact re-emissions of the same record aside)."""

from __future__ import annotations

import asyncio
import random

from clv_stream.devinfra import EmbeddedBroker, EmbeddedRedis
from tests.reliability.rig import Rig, background, make_orders, pick, scenario, wait_until

ORDERS = pick(3_000, 20_000)
KILLS = pick(2, 5)
RATE = pick(200.0, 500.0)  # orders a second: the stream outlasts the kills and restarts (~6 s each)
SEED = 20261


async def test_worker_kill_9_at_random_points(rel_broker: EmbeddedBroker,
                                              rel_redis: EmbeddedRedis) -> None:
    async with scenario("worker_kill9") as sc:
        rng = random.Random(SEED)
        rig = sc.rig = Rig(rel_broker, rel_redis, batch_max_records=200)
        try:
            events = make_orders("k9-", customers=ORDERS // 4, orders=ORDERS, seed=SEED)
            total = len(events)
            # one kill in each of KILLS equal strata of the stream, at a random point of it
            points = [int(total * (0.05 + 0.9 * (i + rng.uniform(0.15, 0.85)) / KILLS))
                      for i in range(KILLS)]
            await rig.aspawn()
            producing = background(rig.publish(events, rate=RATE))
            killed_at: list[int] = []
            for point in points:
                worker, since = rig.worker, await rig.applied_count()

                async def reached(point: int = point, since: int = since) -> bool:
                    count = await rig.applied_count()
                    return count >= point and count > since  # this run has applied something

                ok = await wait_until(reached, limit_s=pick(120, 600))
                assert ok, f"the worker never reached record {point} (harness)\n{rig.logs()}"
                await asyncio.sleep(rng.uniform(0, 0.03))  # a random moment of its batch cycle
                killed_at.append(await rig.applied_count())
                assert worker is not None
                rig.kill9(worker)
                await rig.aspawn()
            high = await producing
            settled = await rig.settle(high, limit_s=pick(120, 600))
            sc.set(kills=len(killed_at), killed_at="/".join(map(str, killed_at)), records=total)
            sc.check(all(0 < c < total for c in killed_at),
                     f"a kill was not mid-stream: applied counts {killed_at} of {total}")
            sc.check(settled, f"not settled: applied {await rig.applied()}, committed "
                     f"{await rig.committed()}, published up to {high}")
            await sc.judge(rig)
        finally:
            rig.close()
