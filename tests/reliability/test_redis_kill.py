"""Scenario 2: redis-server killed with ``kill -9`` while orders flow, restarted on the same
port and data directory. Persistence is the AOF with ``appendfsync everysec``, so up to a
second of writes Redis had acknowledged may be gone after the restart: the worker must
notice (the applied offsets Redis holds went back) and read those orders again."""

from __future__ import annotations

from collections.abc import Callable

from clv_stream.devinfra import EmbeddedBroker, EmbeddedRedis
from tests.reliability.rig import (
    Rig,
    background,
    exit_code,
    make_orders,
    pick,
    scenario,
    wait_until,
)

ORDERS = pick(3_000, 20_000)
KILLS = pick(1, 3)
RATE = pick(400.0, 800.0)
SEED = 20262


async def test_redis_kill_9_with_aof_everysec(rel_broker: EmbeddedBroker,
                                              own_redis: Callable[..., EmbeddedRedis]) -> None:
    async with scenario("redis_kill9_aof") as sc:
        redis = own_redis(appendonly=True)
        argv = " ".join(redis._argv())
        assert "--appendonly yes" in argv, argv
        assert "--appendfsync everysec" in argv, argv
        rig = sc.rig = Rig(rel_broker, redis, batch_max_records=200)
        try:
            events = make_orders("rk-", customers=ORDERS // 4, orders=ORDERS, seed=SEED)
            total = len(events)
            worker = await rig.aspawn()
            producing = background(rig.publish(events, rate=RATE))
            rolled_back: list[int] = []
            for k in range(KILLS):
                point = int(total * (k + 0.5) / (KILLS + 0.5))

                async def reached(point: int = point) -> bool:
                    return await rig.applied_count() >= point

                assert await wait_until(reached, limit_s=pick(120, 600)), \
                    f"the worker never reached record {point} (harness)\n{rig.logs()}"
                before = await rig.applied_count()
                redis.kill()  # SIGKILL to its process group: no shutdown, no last fsync
                redis.start()  # same port, same directory: it loads the AOF
                after = await rig.applied_count()
                rolled_back.append(before - after)
            high = await producing
            settled = await rig.settle(high, limit_s=pick(120, 600))
            sc.set(redis_kills=KILLS, records=total, rolled_back="/".join(map(str, rolled_back)))
            sc.note("rolled_back: records Redis had acknowledged as applied (read just before "
                    "the kill) that the restarted server no longer held (read at once)")
            sc.check(settled, f"not settled: applied {await rig.applied()}, committed "
                     f"{await rig.committed()}, published up to {high}")
            sc.check(worker.running, f"the worker exited (code {exit_code(worker)})")
            await sc.judge(rig)
        finally:
            rig.close()
