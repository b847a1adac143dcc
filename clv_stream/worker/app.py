"""Faust wiring: the app, the orders service, timers and HTTP routes. No business logic here."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import faust
import mode

from clv_stream.domain.model import ScoringModel
from clv_stream.domain.subscription_portfolio import portfolio
from clv_stream.exceptions import ClvStreamError, ConfigError, ModelError, StoreError
from clv_stream.metrics import WorkerMetrics
from clv_stream.pipeline import BatchOutcome, CustomerViews, Pipeline
from clv_stream.settings import Settings
from clv_stream.store.factory import open_store
from clv_stream.web.routes import register_routes
from clv_stream.worker.batch_loop import BatchLoop
from clv_stream.worker.credentials import kafka_security
from clv_stream.worker.health import Health
from clv_stream.worker.memory import tune_process
from clv_stream.worker.refit import RefitPass
from clv_stream.worker.sink import KafkaSink

__all__ = ["OrdersService", "ShutdownWatchdog", "Worker", "create_app"]

logger = logging.getLogger(__name__)
#: The due index of customers without a home partition (see ``store.port.DueLook``).
HOMELESS = -1


class OrdersService(mode.Service):
    """Owns the store, the pipeline and the batch loop for the lifetime of the worker."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        self.settings = settings
        self.store = open_store(settings)
        self.pipeline = Pipeline(settings, self.store)
        self.metrics = WorkerMetrics()
        self.health = Health(on_change=self.metrics.degraded)
        self.sink = KafkaSink(settings)
        self.loop_ = BatchLoop(settings, self.pipeline.process, self.sink, self._confirm,
                               self.store, self.health, on_event=self.metrics.reliability_event)
        self.metrics.lag.set_function(self.loop_.lag)
        self._tenants_revision = -1
        self.refit = RefitPass(self.store, self.pipeline, self.sink, self.loop_,
                               settings.refit_rate, owner=f"{socket.gethostname()}:{os.getpid()}",
                               on_progress=self.metrics.refit_done.set)
        super().__init__(**kwargs)

    async def _confirm(self, outcome: BatchOutcome) -> None:
        await self.pipeline.confirm(outcome)
        self.metrics.record(outcome, time.perf_counter() - outcome.started)
        if outcome.clock:
            self.metrics.clock.set(outcome.clock)

    async def on_start(self) -> None:
        tune_process(self.settings.malloc_mmap_threshold)  # before the first fetch buffer
        # start while Redis is down or refusing (degraded), instead of crash-looping
        await self.loop_.exclusive(self.store.ping)
        model = await self.store.current_model()
        if model is not None:
            self.pipeline.model = model
        logger.info("scoring with model %s", self.pipeline.model.version)
        self.metrics.model(self.pipeline.model.version)
        # before the first batch: a tenant's amounts are converted into its own currency
        self._tenants_revision = await self.store.tenants_revision()
        await self.pipeline.set_tenants(await self.store.tenants())
        await self.sink.start()
        await self.loop_.start()

    async def on_stop(self) -> None:
        """Within ``CLV_SHUTDOWN_TIMEOUT`` whatever is down: what was applied and confirmed is
        committed batch by batch already; anything later is read again, applied once."""
        deadline = time.monotonic() + self.settings.shutdown_timeout
        await self.loop_.stop(self.settings.shutdown_timeout * 0.6)
        self.pipeline.close()
        try:
            await asyncio.wait_for(self.sink.stop(), max(deadline - time.monotonic(), 0.1))
        except TimeoutError:
            logger.warning("producer did not flush before the shutdown deadline")
        await self.store.close()

    @mode.Service.task
    async def _consume(self) -> None:
        await self.loop_.run()

    @mode.Service.task
    async def _time_decay(self) -> None:
        """Re-score due customers that have no home partition (never keyed by their id).

        Customers with a home are re-scored by the consume lane that owns it (see
        :class:`~clv_stream.worker.batch_loop.BatchLoop`); these few run between batches, through
        the same script (an entry of a customer that has a home by now is handed to it).
        """
        while not self.should_stop:
            try:
                waiting = await self.store.due(until=await self.store.clock(), limit=1)
            except StoreError as exc:
                logger.warning("cannot look for due customers (%s)", type(exc).__name__)
                waiting = []
            try:
                full = await self.loop_.exclusive(self._sweep_homeless) if waiting else False
            except ClvStreamError as exc:  # stopping, or a broker refusal: look again later
                logger.warning("sweep of due customers without a home stopped (%s)",
                               type(exc).__name__)
                full = False
            if not full:
                await self.sleep(self.settings.due_poll_interval)

    async def _sweep_homeless(self) -> bool:
        outcome = await self.pipeline.process([], shards=[HOMELESS])
        await self.sink.send(outcome.records)
        await self._confirm(outcome)
        return outcome.full_look

    @mode.Service.task
    async def _subscription_gauges(self) -> None:
        """MRR and active subscribers per tenant for /metrics, from the tenants' totals (kept
        as customers are published: no scan), every CLV_REPORT_INTERVAL."""
        while not self.should_stop:
            try:
                clock = await self.store.clock()  # once per refresh, not per tenant
                for tenant in await self.store.subscription_tenants():
                    totals = await self.store.subscription_totals(tenant)
                    scoring = self.pipeline.scorer.of_tenant(tenant, self.pipeline.scorer.current)
                    now = portfolio(totals, clock, scoring.config.decimals)
                    self.metrics.mrr.labels(tenant).set(float(now["mrr"]))
                    self.metrics.subscribers.labels(tenant).set(now["active_subscribers"])
            except StoreError as exc:
                logger.warning("subscription gauges not refreshed (%s)", type(exc).__name__)
            await self.sleep(self.settings.report_interval)

    @mode.Service.task
    async def _watch_model(self) -> None:
        """Hot reload: poll for the current model; its refit pass runs in the background."""
        while not self.should_stop:
            model = await self._current_model()
            await self._tenants()
            if model is not None and self.refit.running is None:
                self.add_future(self._refits(model.version))
            await self.sleep(self.settings.model_poll_interval)

    async def _refits(self, version: str) -> None:
        """The platform model's refit pass, then those of tenants' own models."""
        await self.refit.maybe_run(version)
        for tenant, own in list(self.pipeline.tenants.items()):
            if own.model_version and not self.should_stop:
                await self.refit.maybe_run(own.model_version, tenant)

    async def _tenants(self) -> None:
        """Hot reload of the tenants' settings, when their revision moved (the settings in
        use are kept when they cannot be read)."""
        try:
            revision = await self.store.tenants_revision()
            if revision == self._tenants_revision:
                return
            tenants = await self.store.tenants()
            await self.pipeline.set_tenants(tenants)
            self._tenants_revision = revision
            logger.info("tenants' settings: revision %s, %s tenants", revision, len(tenants))
        except StoreError as exc:
            logger.warning("cannot check the tenants' settings (%s)", type(exc).__name__)
        except ConfigError as exc:
            logger.error("the tenants' settings cannot be used (%s); the ones in use are kept",
                         exc)

    async def _current_model(self) -> ScoringModel | None:
        """The store's current model, now scoring; None (and the model in use kept) when it
        cannot be read or used."""
        try:
            model = await self.store.current_model()
            if model is not None and model.version != self.pipeline.model.version:
                previous = self.pipeline.model.version
                self.pipeline.model = model
                logger.info("model %s -> %s", previous, model.version)
                self.metrics.model(model.version)
        except StoreError as exc:
            logger.warning("cannot check for a new model (%s)", type(exc).__name__)
            return None
        except (ModelError, ValueError) as exc:  # unreadable, or cut points out of order
            logger.error("the current model cannot be used (%s); scoring with %s", exc,
                         self.pipeline.model.version)
            return None
        return model


def create_app(settings: Settings) -> tuple[faust.App, OrdersService]:
    datadir = Path(tempfile.gettempdir()) / "clv-stream" / settings.app_id
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        broker_credentials=kafka_security(settings).faust(),
        web_host=settings.web_host,
        web_bind=settings.web_host,
        web_port=settings.web_port,
        web_enabled=True,
        autodiscover=False,
        store="memory://",
        # Faust wants a data directory even without tables; keep it out of the cwd
        datadir=str(datadir),
        topic_partitions=settings.topic_partitions,
        broker_rebalance_timeout=settings.kafka_rebalance_timeout_ms / 1000,
        broker_session_timeout=settings.kafka_session_timeout_ms / 1000,
    )
    service = OrdersService(settings, loop=None)
    app.add_dependency(service)
    views = CustomerViews(settings, service.store, service.pipeline.scorer)
    register_routes(app, service.store, views, service.metrics, settings, service.health)
    return app, service


class ShutdownWatchdog:
    """Ends the process ``CLV_SHUTDOWN_TIMEOUT`` after SIGTERM or SIGINT, if
    the orderly stop has not by then (a client waiting on a broker that does not answer).

    Nothing is lost by that: the state's offsets live in Redis with the state, so whatever
    was not committed is read again and applied once. A timer thread, so it fires while the
    event loop is stuck.
    """

    def __init__(self, timeout_s: float) -> None:
        self._timeout = max(timeout_s - 0.2, 0.5)  # a little early: exiting takes a moment
        self._armed = False

    def arm(self) -> None:
        if self._armed:
            return
        self._armed = True
        timer = threading.Timer(self._timeout, self._expire)
        timer.daemon = True
        timer.start()

    def _expire(self) -> None:
        logger.warning("shutdown took longer than %.1fs; exiting now (uncommitted batches "
                       "are read again and applied once)", self._timeout)
        logging.shutdown()
        os._exit(0)


class Worker(faust.Worker):
    """Faust's worker, with a deadline on shutdown (:class:`ShutdownWatchdog`)."""

    def __init__(self, app: faust.App, settings: Settings, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._watchdog = ShutdownWatchdog(settings.shutdown_timeout)

    def _on_sigterm(self) -> None:
        self._watchdog.arm()
        super()._on_sigterm()

    def _on_sigint(self) -> None:
        self._watchdog.arm()
        super()._on_sigint()
