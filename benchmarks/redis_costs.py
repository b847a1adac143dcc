"""Where Redis' time goes per order: the batch scripts, taken apart on a real redis-server.

Runs the pipeline (no Kafka) over the CDNOW replay in batches, capturing every argument it
passes to ``apply_batch.lua``, then replays those arguments on an emptied server with the
script and with variants that leave one part out. The difference to the full script is
that part's cost. Also times ``publish.lua`` as the pipeline calls it, and the worker's own
CPU per order for the same batches::

    python -m benchmarks.redis_costs [--batch 2000] [--orders N]

Results: ``benchmarks/results/redis_costs.json``. Times are wall clock of the ``EVALSHA``
round trip on a local socket (server time plus a few µs of client), per order.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from typing import Any

import orjson
import redis

from benchmarks import workload
from benchmarks.report import Table, save
from clv_stream.devinfra.redis_server import EmbeddedRedis
from clv_stream.pipeline import Pipeline, RawRecord
from clv_stream.settings import Settings
from clv_stream.store import redis_store
from clv_stream.store.redis_store import _APPLY, RedisStore

#: Variants of apply_batch.lua, each without one part (the text replaced must exist).
VARIANTS = {
    "without the event_id dedupe (SET NX PX)": (
        "not redis.call('SET', prefix .. ':e:' .. event_id, '1', 'NX', 'PX', window_ms)", "false"),
    "without writing customers back (HSET)": (
        "if n > 0 then call_chunked('HSET', c.key, n) end", ""),
    "without the reply rows (and the write-back in that loop)": (
        "for _, cid in ipairs(touched) do", "for _, cid in ipairs({}) do"),
}


async def _run_pipeline(url: str, messages: list[workload.Message], batch: int
                        ) -> tuple[list[bytes], float, float, float]:
    """Capture the apply arguments; return them, worker CPU s, publish s and wall s."""
    captured: list[bytes] = []
    apply = RedisStore.apply
    publish_s = 0.0

    async def capturing(self: RedisStore, topic: str, records: Any, *args: Any) -> Any:
        flat: list[Any] = []
        for rec in records:
            o = rec.order
            flat.extend((rec.partition, rec.offset, o.event_id, o.kind, o.order_id,
                         o.customer_id, o.amount_minor, o.ts, o.margin_bp))
        captured.append(orjson.dumps(flat))
        return await apply(self, topic, records, *args)

    redis_store.RedisStore.apply = capturing  # type: ignore[method-assign]
    try:
        store = RedisStore.from_url(url)
        pipeline = Pipeline(Settings(redis_url=url), store)
        raws = [RawRecord("orders", 0, i, k, v) for i, (k, v) in enumerate(messages)]
        gc.set_threshold(50_000, 20, 100)  # as the worker does
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(raws), batch):
            out = await pipeline.process(raws[i:i + batch])
            t = time.perf_counter()
            await pipeline.confirm(out)
            publish_s += time.perf_counter() - t
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        await store.close()
    finally:
        redis_store.RedisStore.apply = apply  # type: ignore[method-assign]
    return captured, cpu, publish_s, wall


def _replay(client: redis.Redis, script: str, args: list[bytes]) -> float:
    client.flushall()
    sha = client.script_load(script)
    spent = 0.0
    for arg in args:
        t = time.perf_counter()
        client.evalsha(sha, 0, "clv", "orders", 604_800_000, arg)
        spent += time.perf_counter() - t
    return spent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=2000)
    p.add_argument("--orders", type=int, default=None, help="first N CDNOW orders (default all)")
    args = p.parse_args()
    messages = workload.cdnow(args.orders)
    n = len(messages)
    with EmbeddedRedis() as server:
        captured, cpu, publish_s, wall = asyncio.run(_run_pipeline(server.url, messages, args.batch))
        client = server.client()
        table = Table(f"Redis time per order, CDNOW replay ({n:,} orders, batch {args.batch})",
                      ["part", "us_per_order", "saves_us"])
        table.add(part="pipeline without Kafka: wall", us_per_order=wall / n * 1e6)
        table.add(part="pipeline without Kafka: worker CPU", us_per_order=cpu / n * 1e6)
        table.add(part="publish.lua (record what was published)", us_per_order=publish_s / n * 1e6)
        full = _replay(client, _APPLY, captured)
        table.add(part="apply_batch.lua, full", us_per_order=full / n * 1e6)
        for name, (old, new) in VARIANTS.items():
            assert old in _APPLY, f"variant {name!r} no longer matches apply_batch.lua"
            spent = _replay(client, _APPLY.replace(old, new), captured)
            table.add(part=f"apply_batch.lua {name}", us_per_order=spent / n * 1e6,
                      saves_us=(full - spent) / n * 1e6)
    table.notes.append("EVALSHA wall time on a local socket, per order; each variant replays the "
                       "same captured arguments on an emptied server, so full - variant = that part.")
    save("redis_costs", [table], {"command": "python -m benchmarks.redis_costs"})


if __name__ == "__main__":
    main()
