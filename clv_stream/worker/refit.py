"""Background re-scoring after a new model version: ``cause: model_refit`` updates.

One worker per model version does the pass (a ``SET NX`` claim in Redis); customers are
re-scored in pages between batches, at most ``CLV_REFIT_RATE`` customers per second, with
progress in the logs (and ``clv_refit_*`` metrics). Customers the pass has not reached yet
are scored with the new model anyway as soon as an order of theirs arrives.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from clv_stream.pipeline import Pipeline
from clv_stream.store.redis_store import RedisStore
from clv_stream.worker.kafka import BatchLoop, KafkaSink

__all__ = ["RefitPass"]

logger = logging.getLogger(__name__)
PAGE = 500


class RefitPass:
    def __init__(self, store: RedisStore, pipeline: Pipeline, sink: KafkaSink, loop: BatchLoop,
                 rate: float, owner: str) -> None:
        self._store, self._pipeline, self._sink, self._loop = store, pipeline, sink, loop
        self._rate = rate
        self._owner = owner
        self.done = 0
        self.updates = 0

    async def claim(self, version: str) -> bool:
        key = self._store.key("refit", version)
        return bool(await self._store.client.set(key, self._owner, nx=True, ex=7 * 86400))

    async def run(self, version: str) -> None:
        if not await self.claim(version):
            logger.info("model %s: another worker re-scores the customers", version)
            return
        started = time.monotonic()
        async for ids in self._store.scan_customer_ids(count=PAGE):
            if self._pipeline.model.version != version:
                logger.info("model %s superseded; refit pass stops", version)
                return
            await self._loop.exclusive(self._page(ids, version))
            self.done += len(ids)
            await self._pace(started)
            logger.info("model %s refit pass: %s customers re-scored, %s updates",
                        version, self.done, self.updates)
        logger.info("model %s refit pass done: %s customers, %s updates in %.1fs",
                    version, self.done, self.updates, time.monotonic() - started)

    def _page(self, ids: list[str], version: str) -> Callable[[], Awaitable[Any]]:
        async def step() -> None:
            outcome = await self._pipeline.rescore(ids, "model_refit", f"refit:{version}")
            await self._sink.send(outcome.records)
            await self._pipeline.confirm(outcome)
            self.updates += outcome.updates
        return step

    async def _pace(self, started: float) -> None:
        ahead = self.done / self._rate - (time.monotonic() - started)
        if ahead > 0:
            await asyncio.sleep(ahead)
