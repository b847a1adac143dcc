"""Scenario 3: Redis goes back in time while the worker runs. A snapshot (BGSAVE) is taken
while orders flow, the worker applies more (and commits those offsets to Kafka), then the
server is stopped, the older snapshot put back and the server started on the same port.

First the scenario proves writes Redis had acknowledged were really lost: the applied
offsets the snapshot holds are behind those Redis had reported, and behind the consumer
group's committed offsets (so Kafka alone would not read those orders again). Only then is
the recovery judged: the worker must notice, read again from the offsets Redis holds, and
end equal to the batch computation."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from clv_stream.devinfra import EmbeddedBroker, EmbeddedRedis
from clv_stream.store.redis_store import RedisStore
from tests.reliability.rig import (
    Rig,
    background,
    exit_code,
    make_orders,
    merge_high,
    pick,
    scenario,
    wait_until,
)

ORDERS = pick(3_000, 20_000)
RATE = pick(500.0, 1_000.0)
SEED = 20263


async def _bgsave(redis: EmbeddedRedis) -> Path:
    """BGSAVE, wait for it to finish; the RDB file it wrote."""
    client = redis.client(decode_responses=True)
    try:
        saves = int(client.info("persistence").get("rdb_saves", 0))
        client.bgsave()

        async def saved() -> bool:
            info = client.info("persistence")
            return int(info.get("rdb_saves", 0)) > saves and not int(info["rdb_bgsave_in_progress"])

        assert await wait_until(saved, limit_s=30), "BGSAVE did not finish"
        assert client.info("persistence")["rdb_last_bgsave_status"] == "ok"
        return Path(client.config_get("dir")["dir"]) / client.config_get("dbfilename")["dbfilename"]
    finally:
        client.close()


async def _offsets_in(rdb: Path, rig: Rig) -> dict[int, int]:
    """The applied offsets an RDB file holds: loaded by a scratch redis-server of its own."""
    scratch_dir = Path(tempfile.mkdtemp(prefix="clv-rdb-"))
    try:
        shutil.copy(rdb, scratch_dir / "dump.rdb")
        scratch = EmbeddedRedis(data_dir=scratch_dir)
        scratch.start()
        store = RedisStore.from_url(scratch.url, rig.settings.redis_key_prefix)
        try:
            return await store.applied_offsets(rig.settings.topic_orders)
        finally:
            await store.close()
            scratch.kill()
    finally:
        shutil.rmtree(scratch_dir, ignore_errors=True)


async def test_redis_rolled_back_to_an_older_snapshot(
        rel_broker: EmbeddedBroker, own_redis: Callable[..., EmbeddedRedis]) -> None:
    async with scenario("redis_rollback") as sc:
        redis = own_redis()  # no AOF: what the server loads at start is the RDB file
        rig = sc.rig = Rig(rel_broker, redis, batch_max_records=200, on_state_lost="replay")
        keep = Path(tempfile.mkdtemp(prefix="clv-snapshot-"))
        try:
            events = make_orders("rb-", customers=ORDERS // 4, orders=ORDERS, seed=SEED)
            a, b = len(events) * 2 // 5, len(events) * 4 // 5
            worker = await rig.aspawn()
            high = await rig.publish(events[:a])
            assert await rig.settle(high, limit_s=pick(60, 300)), "first part not applied"

            producing = background(rig.publish(events[a:b], rate=RATE))
            flowing_from = await rig.applied_count() + (b - a) // 5

            async def flowing() -> bool:
                return await rig.applied_count() >= flowing_from

            assert await wait_until(flowing, limit_s=60), "second part not flowing (harness)"
            snapshot = keep / "older.rdb"
            shutil.copy(await _bgsave(redis), snapshot)  # taken while the worker applies
            high = merge_high(high, await producing)
            assert await rig.settle(high, limit_s=pick(60, 300)), "second part not applied"

            acknowledged = await rig.applied() or {}
            committed = await rig.committed()
            held = await _offsets_in(snapshot, rig)
            lost_records = sum(acknowledged.values()) - sum(held.values())
            # the precondition, before any recovery is judged: acknowledged writes really lost
            assert lost_records > 0, f"the snapshot {held} is not behind Redis {acknowledged}"
            assert any(committed.get(p, 0) > held.get(p, -1) + 1 for p in committed), \
                f"the group's committed offsets {committed} are not past the snapshot's {held}"

            redis.stop()
            shutil.copy(snapshot, Path(redis.work_dir) / "dump.rdb")
            redis.start()  # same port and directory: it loads the older snapshot
            restored = await rig.applied() or {}
            sc.set(records=len(events), rolled_back=lost_records,
                   offsets_acknowledged=_text(acknowledged), offsets_restored=_text(restored))
            sc.note(f"snapshot held {held}; Redis had acknowledged {acknowledged}; group "
                    f"committed {committed}; restarted Redis held {restored}")

            high = merge_high(high, await rig.publish(events[b:], rate=RATE))
            settled = await rig.settle(high, limit_s=pick(120, 300))
            sc.check(settled, f"not settled: applied {await rig.applied()}, committed "
                     f"{await rig.committed()}, published up to {high}")
            sc.check(worker.running, f"the worker exited (code {exit_code(worker)})")
            # the outputs of the lost range are emitted again from the values Redis kept: a
            # customer's chain may step back to a value published before, never elsewhere
            await sc.judge(rig, rewinds=True)
        finally:
            rig.close()
            shutil.rmtree(keep, ignore_errors=True)


def _text(offsets: dict[int, int]) -> str:
    return "/".join(f"{p}:{o}" for p, o in sorted(offsets.items()))
