"""The naive per-event peer: a Faust agent, one EVALSHA and one produce per order event.

Per event it decodes the JSON, dedupes by ``event_id`` and updates the customer's counters
in one small Lua script (SET NX PX, HINCRBY), then produces one record with the new
counters. This is how a first streaming CLV worker on Faust + Redis is usually written::

    python -m benchmarks.peers.naive_faust --bootstrap 127.0.0.1:9092 \
        --redis redis://127.0.0.1:6379/0 --input orders --output naive.out --group naive
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import faust
import orjson
import redis.asyncio as aioredis

LUA = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[3]) then return {-1, '0'} end
local n = redis.call('HINCRBY', KEYS[2], 'n', 1)
local r = redis.call('HINCRBYFLOAT', KEYS[2], 'r', ARGV[1])
redis.call('HSET', KEYS[2], 'l', ARGV[2])
return {n, r}
"""
WINDOW_MS = str(7 * 86400 * 1000)


def build(args: argparse.Namespace, datadir: str) -> faust.App:
    app = faust.App(
        args.group, broker=f"kafka://{args.bootstrap}", store="memory://", web_enabled=False,
        autodiscover=False, topic_partitions=4, broker_rebalance_timeout=6,
        broker_session_timeout=6, consumer_auto_offset_reset="earliest",
        datadir=datadir,
    )
    orders = app.topic(args.input, key_type=bytes, value_type=bytes, value_serializer="raw",
                       key_serializer="raw")
    out = app.topic(args.output, key_serializer="raw", value_serializer="raw")
    client = aioredis.Redis.from_url(args.redis)
    script = client.register_script(LUA)
    prefix = args.group

    @app.agent(orders)
    async def process(stream: Any) -> None:
        async for _key, value in stream.items():
            e = orjson.loads(value)
            event_id = e.get("event_id") or f"{e['order_id']}:{e['event_type']}"
            cid = e["customer_id"]
            sign = "-" if e["event_type"] != "order_placed" else ""
            n, revenue = await script(keys=[f"{prefix}:e:{event_id}", f"{prefix}:c:{cid}"],
                                      args=[f"{sign}{e['amount']}", e["occurred_at"], WINDOW_MS])
            body = {"customer_id": cid, "source_event_id": event_id, "orders": n,
                    "net_revenue": revenue.decode() if isinstance(revenue, bytes) else revenue}
            await out.send(key=cid.encode(), value=orjson.dumps(body))

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    for name in ("bootstrap", "redis", "input", "output", "group"):
        parser.add_argument(f"--{name}", required=True)
    args = parser.parse_args(argv)
    # Faust creates its data directory but not the parents: a directory of this run's own
    # (a fixed /tmp/clv-bench/... failed on a machine where /tmp/clv-bench did not exist)
    with tempfile.TemporaryDirectory(prefix=f"{args.group}-") as datadir:
        app = build(args, str(Path(datadir) / "data"))
        sys.argv = [sys.argv[0], "worker", "--without-web", "-l", "warning"]
        faust.Worker(app, loglevel="warning").execute_from_commandline()


if __name__ == "__main__":
    main()
