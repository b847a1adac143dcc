"""Scenario 4: Redis unavailable while orders flow, twice.

1. redis-server SIGSTOPped (a hung server: connections stay open, nothing answers) for
   ``OUTAGE_S`` with a batch in flight, then SIGCONT;
2. Redis out of memory for ``OOM_S``: ``maxmemory`` set to the memory it uses, with
   ``maxmemory-policy noeviction``, so every write is refused with OOM; then restored.

The worker must not exit (same process throughout, never restarted), ``/healthz`` should say
``degraded`` during each outage and ``ok`` after (asserted once the endpoint has the
contract's ``{"status", "checks"}`` shape), and the end state must equal the batch."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import redis as redis_py

from clv_stream.devinfra import EmbeddedBroker, EmbeddedRedis
from clv_stream.devinfra.stack import WorkerProcess
from tests.reliability.rig import (
    Rig,
    Scenario,
    background,
    crash_reason,
    exit_code,
    health,
    make_orders,
    merge_high,
    observe,
    paused,
    pick,
    scenario,
    wait_until,
)

OUTAGE_S = pick(5.0, 30.0)
OOM_S = pick(3.0, 10.0)
RATE = 200.0  # orders a second while each outage happens
SEED = 20264


def _statuses(seen: list[dict[str, Any]]) -> str:
    return "/".join(f"{k}:{n}" for k, n in Counter(str(o["status"]) for o in seen).items())


async def _until_healthy(worker: WorkerProcess, limit_s: float = 60.0) -> list[dict[str, Any]]:
    """/healthz until it says ok (or ``limit_s``): every answer seen."""
    seen: list[dict[str, Any]] = []

    async def ok() -> bool:
        if not worker.running:
            return True  # it will not get healthy: the verdict says the worker exited
        h = await asyncio.to_thread(health, worker)
        h["alive"] = worker.running
        seen.append(h)
        return h["status"] == "ok"

    await wait_until(ok, limit_s, interval_s=0.25)
    return seen


def _judge_health(sc: Scenario, key: str, what: str, during: list[dict[str, Any]],
                  after: list[dict[str, Any]]) -> None:
    sc.set(**{key: _statuses(during).replace(" ", "_") or "none"})
    if not any(o["shape"] for o in during + after):
        sc.note(f"/healthz has not the contract's shape yet ({what}: {_statuses(during)}, "
                f"after: {_statuses(after)}); not judged")
        return
    sc.check(any(o["status"] == "degraded" for o in during),
             f"/healthz never said degraded while Redis was {what}: {_statuses(during)}")
    sc.check(bool(after) and after[-1]["status"] == "ok",
             f"/healthz did not say ok after Redis was {what}: {_statuses(after)}")


async def test_redis_down_and_out_of_memory(rel_broker: EmbeddedBroker,
                                            own_redis: Callable[..., EmbeddedRedis]) -> None:
    async with scenario("redis_down_oom") as sc:
        redis = own_redis()
        rig = sc.rig = Rig(rel_broker, redis, batch_max_records=200)
        try:
            first_s, second_s = OUTAGE_S + 4, OOM_S + 4  # orders flow before, during, after
            n1, n2 = int(RATE * first_s), int(RATE * second_s)
            events = make_orders("rd-", customers=(n1 + n2) // 5, orders=int((n1 + n2) / 1.15),
                                 seed=SEED)
            first, second = events[:n1], events[n1:]
            worker = await rig.aspawn()
            pid = worker.pid

            # 1. hung Redis, with a batch in flight
            producing = background(rig.publish(first, rate=len(first) / first_s))
            start = len(first) // 8

            async def flowing() -> bool:
                return await rig.applied_count() >= start

            assert await wait_until(flowing, limit_s=60), f"orders not flowing (harness)\n{rig.logs()}"
            with paused(redis):
                down = await observe(worker, OUTAGE_S)
            back = await _until_healthy(worker)
            high = await producing
            settled_1 = await rig.settle(high, limit_s=pick(90, 300))

            # 2. out of memory: every write refused
            producing = background(rig.publish(second, rate=len(second) / second_s))
            start = sum(o + 1 for o in high.values()) + len(second) // 8
            assert await wait_until(flowing, limit_s=60), "orders not flowing again (harness)"
            client = redis.client(decode_responses=True)
            try:
                client.config_set("maxmemory-policy", "noeviction")
                client.config_set("maxmemory", client.info("memory")["used_memory"])
                refused = False
                for i in range(200):  # the first write past the limit is the last one allowed
                    try:
                        client.set(f"{rig.settings.redis_key_prefix}-oom-probe-{i}", "x" * 4096)
                    except redis_py.exceptions.OutOfMemoryError:  # "OOM command not allowed"
                        refused = True
                        break
                assert refused, "Redis did not refuse writes with OOM (harness)"
                oom = await observe(worker, OOM_S)
            finally:
                client.config_set("maxmemory", 0)
                client.close()
            after_oom = await _until_healthy(worker)
            high = merge_high(high, await producing)
            settled_2 = await rig.settle(high, limit_s=pick(90, 300))

            sc.set(outage_s=OUTAGE_S, oom_s=OOM_S)
            sc.check(settled_1, f"not settled after the hung Redis: applied {await rig.applied()}"
                     f", committed {await rig.committed()}")
            sc.check(settled_2, f"not settled after OOM: applied {await rig.applied()}, "
                     f"committed {await rig.committed()}, published up to {high}")
            observed = down + back + oom + after_oom
            sc.check(worker.running and all(o["alive"] for o in observed),
                     f"the worker exited (code {exit_code(worker)}): {crash_reason(worker)}")
            sc.check(rig.runs == 1 and worker.pid == pid, "the worker was restarted")
            _judge_health(sc, "healthz_hung", "hung", down, back)
            _judge_health(sc, "healthz_oom", "out of memory", oom, after_oom)
            await sc.judge(rig)
        finally:
            rig.close()
