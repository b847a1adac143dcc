"""Where Redis' time goes per order: the batch scripts, taken apart on a real redis-server.

Runs the pipeline (no Kafka) over the CDNOW replay in batches, capturing every argument it
passes to ``apply_batch.lua``, then replays those arguments on an emptied server with the
script and with variants that leave one part out. The difference to the full script is
that part's cost. Also times ``publish.lua`` as the pipeline calls it, and the worker's own
CPU per order for the same batches; and the single steps the scripts are made of (a
``redis.call`` with its arguments, a ``string.format``, a table), each timed in a loop::

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
from clv_stream.store.redis_store import RedisStore
from clv_stream.store.scripts import APPLY_SOURCE

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


#: Single steps the scripts take per customer or order, each timed in a Lua loop on a hash
#: shaped like a customer's (9 summary fields, 2 orders, 2 purchase days): (name, body).
STEPS = [
    ("HMGET of 11 fields, an existing customer", "redis.call('HMGET', 'c:' .. i, 'n', 'r', "
     "'pr', 'f', 'l', 'nd', 'pub', 'sg', 'o:1000009', 'd:18999', 'k')"),
    ("HMGET of 11 fields, no such key", "redis.call('HMGET', 'z:' .. i, 'n', 'r', 'pr', 'f', "
     "'l', 'nd', 'pub', 'sg', 'o:1000009', 'd:18999', 'k')"),
    ("EXISTS", "redis.call('EXISTS', 'z:' .. i)"),
    ("HSET of 8 fields, an existing customer", "redis.call('HSET', 'c:' .. i, 'n', 4, 'r', "
     "22345, 'pr', 22345, 'l', 1615000000, 'nd', 4, 'o:1000003', '1234|1615000000', "
     "'d:18600', '1|1234')"),
    ("HSET of 9 fields, a new customer", "redis.call('HSET', 'x:' .. i, 'n', 1, 'r', 2, 'pr', "
     "3, 'f', 4, 'l', 5, 'nd', 6, 'k', 1, 'o:123', '1234|1600000000', 'd:19000', '1|1234')"),
    ("SET NX PX (the event-id dedupe key)", "redis.call('SET', 'e:' .. i, '1', 'NX', 'PX', 604800000)"),
    ("string.format('%d', n)", "local x = string.format('%d', 1234567 + i)"),
    ("a number joined to a string ('d:' .. day)", "local x = 'd:' .. (19000 + i)"),
    ("string.match of an order field (5 parts)", "local a, b, c, d, e = string.match("
     "'1234|1600000000|10000|0|0', '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)$')"),
    ("a table of 21 fields (one customer's cache entry)", "local t = {id = 'x', key = 'y', "
     "n = 1, r = 2, pr = 3, f = 4, l = 5, nd = 6, pub = '', sg = '', k = 1, k0 = 1, wn = false, "
     "wr = false, wf = false, wl = false, wnd = false, pubc = false, fresh = true, orders = {}, "
     "days = {}}"),
]
_CUSTOMERS = ("for i = 1, N do redis.call('HSET', 'c:' .. i, 'n', 3, 'r', 12345, 'pr', 12345, "
              "'f', 1600000000, 'l', 1610000000, 'nd', 3, 'k', 1, 'pub', '=|1620000000|v1', "
              "'sg', 'low|active|new', 'o:1000001', '1234|1600000000', 'o:1000002', "
              "'1234|1605000000', 'd:18518', '1|1234', 'd:18576', '1|1234') end")


def _steps(client: redis.Redis, n: int = 50_000) -> Table:
    """Each of :data:`STEPS`, ``n`` times in one script (the loop's own cost taken off)."""
    table = Table("One step of the scripts, inside redis-server (Lua 5.1), per call",
                  ["step", "ns"])

    def timed(body: str) -> float:
        client.flushall()
        client.eval(f"local N = {n} {_CUSTOMERS} return 1", 0)
        t = time.perf_counter()
        client.eval(f"local N = {n} for i = 1, N do {body} end return 1", 0)
        return time.perf_counter() - t

    empty = timed("")
    for name, body in STEPS:
        table.add(step=name, ns=max(timed(body) - empty, 0.0) / n * 1e9)
    table.notes.append("Wall time of one EVAL looping N times, minus an empty loop, over N. "
                       "A redis.call costs ~0.5 µs plus ~0.25-0.4 µs per argument and reply "
                       "element on this machine.")
    return table


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
        full = _replay(client, APPLY_SOURCE, captured)
        table.add(part="apply_batch.lua, full", us_per_order=full / n * 1e6)
        for name, (old, new) in VARIANTS.items():
            assert old in APPLY_SOURCE, f"variant {name!r} no longer matches apply_batch.lua"
            spent = _replay(client, APPLY_SOURCE.replace(old, new), captured)
            table.add(part=f"apply_batch.lua {name}", us_per_order=spent / n * 1e6,
                      saves_us=(full - spent) / n * 1e6)
        steps = _steps(client)
    table.notes.append("EVALSHA wall time on a local socket, per order; each variant replays the "
                       "same captured arguments on an emptied server, so full - variant = that part.")
    save("redis_costs", [table, steps], {"command": "python -m benchmarks.redis_costs"})
    print("\n" + table.markdown() + "\n\n" + steps.markdown())


if __name__ == "__main__":
    main()
