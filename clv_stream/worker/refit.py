"""Background re-scoring after a new model version: ``cause: model_refit`` updates.

One worker at a time does the pass for a version: it holds a short lease in the store
(``refit:{version}``, or ``refit:{tenant}:{version}`` for a tenant's own model, whose pass
re-scores that tenant's customers only; renewed every page; a pass whose lease another worker took stops), and
marks the version done at the end (a flag ``refit:{version}:done``). Lease and flag go
through the store port, so a store failure is a ``StoreError`` like any other. Every worker
checks the current version's pass each model poll and takes it over when it is neither done
nor leased, so a pass interrupted by a crash or a restart starts again. Customers are
re-scored in pages between batches, at most ``CLV_REFIT_RATE`` per second, with progress in
the logs and the ``clv_refit_customers`` metric. Customers the pass has not reached yet are
scored with the new model anyway as soon as an order of theirs arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from clv_stream.exceptions import ClvStreamError, StoreError
from clv_stream.pipeline import Pipeline
from clv_stream.store.port import CustomerKey, StateStore
from clv_stream.worker.batch_loop import BatchLoop
from clv_stream.worker.sink import KafkaSink

__all__ = ["RefitPass"]

logger = logging.getLogger(__name__)
PAGE = 500
LEASE_S = 60
DONE_TTL_S = 30 * 86400


class RefitPass:
    def __init__(self, store: StateStore, pipeline: Pipeline, sink: KafkaSink, loop: BatchLoop,
                 rate: float, owner: str, on_progress: Callable[[int], None] | None = None) -> None:
        self._store, self._pipeline, self._sink, self._loop = store, pipeline, sink, loop
        self._rate = rate
        self._owner = owner
        self._on_progress = on_progress
        self.running: str | None = None
        self._done: set[tuple[str | None, str]] = set()  # passes known done: not asked again

    async def maybe_run(self, version: str, tenant: str | None = None) -> None:
        """Run the pass for ``version`` (over ``tenant``'s customers only, for a model of a
        tenant's own) unless it is done, running here, or leased elsewhere."""
        if self.running is not None or (tenant, version) in self._done:
            return
        key = self._key(version, tenant)
        try:
            if await self._store.flag(f"{key}:done"):
                self._done.add((tenant, version))
                return
            if not await self._store.take_lease(key, self._owner, LEASE_S):
                return
        except StoreError as exc:  # a Redis hiccup: the next poll tries again
            logger.warning("refit pass for %s not started (%s)", version, type(exc).__name__)
            return
        self.running = version
        try:
            await self._run(version, tenant, key)
            # done or superseded: let go now (an interrupted pass's lease lapses by itself)
            with contextlib.suppress(StoreError):
                await self._store.release_lease(key, self._owner)
        except ClvStreamError as exc:  # Redis or the broker failed: the next poll resumes it
            logger.warning("refit pass for %s interrupted (%s); it will be resumed", version,
                           type(exc).__name__)
        finally:
            self.running = None

    def _key(self, version: str, tenant: str | None) -> str:
        return f"refit:{version}" if tenant is None else f"refit:{tenant}:{version}"

    def _version(self, tenant: str | None) -> str | None:
        """The version now scoring ``tenant`` with a model of its own (None: the platform's)."""
        if tenant is None:
            return self._pipeline.model.version
        own = self._pipeline.tenants.get(tenant)
        return own.model_version if own else None

    async def _run(self, version: str, tenant: str | None, key: str) -> None:
        started, done, updates = time.monotonic(), 0, 0
        async for ids in self._store.scan_customer_ids(count=PAGE, tenant=tenant):
            if self._version(tenant) != version:
                logger.info("model %s superseded; its refit pass stops", version)
                return
            updates += await self._loop.exclusive(self._page(ids, version))
            done += len(ids)
            if not await self._store.renew_lease(key, self._owner, LEASE_S):
                logger.warning("model %s refit pass: lease taken by another worker; it stops",
                               version)
                return
            if self._on_progress:
                self._on_progress(done)
            logger.info("model %s refit pass: %s customers re-scored, %s updates",
                        version, done, updates)
            await self._pace(started, done)
        await self._store.set_flag(f"{key}:done", DONE_TTL_S)
        self._done.add((tenant, version))
        logger.info("model %s refit pass done: %s customers, %s updates in %.1fs",
                    version, done, updates, time.monotonic() - started)

    def _page(self, ids: list[CustomerKey], version: str) -> Callable[[], Awaitable[Any]]:
        async def step() -> int:
            outcome = await self._pipeline.rescore(ids, "model_refit", f"refit:{version}")
            await self._sink.send(outcome.records)
            await self._pipeline.confirm(outcome)
            return outcome.updates
        return step

    async def _pace(self, started: float, done: int) -> None:
        ahead = done / self._rate - (time.monotonic() - started)
        if ahead > 0:
            await asyncio.sleep(ahead)
