"""Scenario 6: two workers in one consumer group.

A. While orders flow, one of the two is killed with ``kill -9``: the group rebalances and
   the other takes its partitions over (after the session timeout).
B. A stale worker: a worker busy with a backlog is SIGSTOPped long enough for the group to
   give its partitions to the other (session timeout), which applies more and publishes;
   then the stale one is SIGCONTinued, and whatever it had in flight runs late. Its late
   writes must not overwrite the new owner's published state: the update chains
   (``previous`` = the last published value) still hold, Redis' published snapshots are
   the last updates on the topic, and the aggregates equal the batch.
"""

from __future__ import annotations

import asyncio
import signal

from clv_stream.devinfra import EmbeddedBroker, EmbeddedRedis
from clv_stream.devinfra.stack import WorkerProcess
from tests.reliability.rig import (
    Rig,
    Scenario,
    assigned_partitions,
    background,
    check_chains,
    make_orders,
    merge_high,
    pick,
    scenario,
    signal_group,
    wait_until,
)

CUSTOMERS = pick(200, 800)
KILL_ORDERS = pick(1_500, 6_000)
STALE_ORDERS = pick(2_500, 12_000)  # per round: a backlog, then more while it is stopped
STALE_ROUNDS = pick(1, 3)
RATE = pick(300.0, 600.0)
SEED = 20266


async def _both_assigned(rig: Rig, a: WorkerProcess, b: WorkerProcess, sc: Scenario) -> None:
    """Until each of ``a`` and ``b`` logged an assignment and together they hold every
    partition (a note, not a failure, when the log says nothing we can read)."""
    topic, everything = rig.settings.topic_orders, set(range(rig.settings.topic_partitions))

    async def split() -> bool:
        la, lb = assigned_partitions(a, topic), assigned_partitions(b, topic)
        return bool(la and lb and la[-1] and lb[-1] and la[-1] | lb[-1] == everything
                    and not la[-1] & lb[-1])

    if not await wait_until(split, limit_s=30, interval_s=0.2):
        sc.note(f"no split of the partitions seen in the logs: {assigned_partitions(a, topic)} "
                f"/ {assigned_partitions(b, topic)}")


async def test_two_workers_rebalance_and_stale_worker(rel_broker: EmbeddedBroker,
                                                      rel_redis: EmbeddedRedis) -> None:
    async with scenario("two_workers") as sc:
        rig = sc.rig = Rig(rel_broker, rel_redis, batch_max_records=200)
        topic = rig.settings.topic_orders
        try:
            events = make_orders("tw-", customers=CUSTOMERS,
                                 orders=KILL_ORDERS + STALE_ORDERS * STALE_ROUNDS, seed=SEED)
            cut = int(len(events) * KILL_ORDERS / (KILL_ORDERS + STALE_ORDERS * STALE_ROUNDS))
            phase_a, rest = events[:cut], events[cut:]
            first, second = await asyncio.gather(rig.aspawn(), rig.aspawn())
            await _both_assigned(rig, first, second, sc)

            # A. kill -9 one of two while orders flow
            producing = background(rig.publish(phase_a, rate=RATE))
            start = len(phase_a) // 3

            async def flowing() -> bool:
                return await rig.applied_count() >= start

            assert await wait_until(flowing, limit_s=60), f"orders not flowing (harness)\n{rig.logs()}"
            rig.kill9(first)
            high = await producing
            took_over = await rig.settle(high, limit_s=pick(90, 300))
            sc.check(took_over, f"the survivor did not take the killed worker's partitions over:"
                     f" applied {await rig.applied()}, committed {await rig.committed()}, "
                     f"published up to {high}")
            after_kill = check_chains(await rig.read_topic(rig.settings.topic_updates))
            sc.set(chain_breaks_after_kill=after_kill.breaks, id_conflicts_after_kill=after_kill.conflicts)

            # B. a stale worker comes back after the group gave its partitions away
            stale_writes = []
            per_round = len(rest) // STALE_ROUNDS
            for r in range(STALE_ROUNDS):
                chunk = rest[r * per_round:(r + 1) * per_round] if r < STALE_ROUNDS - 1 \
                    else rest[r * per_round:]
                backlog, meanwhile, after = (chunk[:len(chunk) // 2],
                                             chunk[len(chunk) // 2:len(chunk) * 3 // 4],
                                             chunk[len(chunk) * 3 // 4:])
                live = [w for w in rig.workers if w.running]
                if len(live) < 2:
                    live.append(await rig.aspawn())
                await _both_assigned(rig, live[0], live[1], sc)
                stale = live[r % 2]
                base = await rig.applied_count()
                start = base + len(backlog) // 4
                high = merge_high(high, await rig.publish(backlog))  # both busy with it
                assert await wait_until(flowing, limit_s=60), "backlog not flowing (harness)"
                signal_group(stale, signal.SIGSTOP)
                try:
                    # the group notices the stopped member after the session timeout (10 s)
                    # and may wait out the rebalance timeout (30 s) for it before handing its
                    # partitions over: the backlog's deadline leaves room for both
                    moved = await rig.settle(high, limit_s=pick(90, 120))
                    sc.check(moved, f"round {r}: the other worker did not take the stopped "
                             f"one's partitions over: applied {await rig.applied()}")
                    high = merge_high(high, await rig.publish(meanwhile))
                    moved = await rig.settle(high, limit_s=pick(60, 120))
                    sc.check(moved, f"round {r}: orders published while a worker was stopped "
                             f"were not applied: applied {await rig.applied()}")
                finally:
                    signal_group(stale, signal.SIGCONT)
                assignments = len(assigned_partitions(stale, topic))

                async def back(stale: WorkerProcess = stale, seen: int = assignments) -> bool:
                    return not stale.running or len(assigned_partitions(stale, topic)) > seen

                rejoined = await wait_until(back, limit_s=60, interval_s=0.2)
                stale_writes.append("rejoined" if rejoined and stale.running else
                                    "exited" if not stale.running else "no new assignment")
                high = merge_high(high, await rig.publish(after, rate=RATE))
                settled = await rig.settle(high, limit_s=pick(90, 300))
                sc.check(settled, f"round {r}: not settled after the stale worker came back: "
                         f"applied {await rig.applied()}, committed {await rig.committed()}")
            sc.set(stale_rounds=STALE_ROUNDS,
                   stale_worker="/".join(stale_writes))
            await sc.judge(rig)
        finally:
            rig.close()
