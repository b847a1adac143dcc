"""Faust wiring: the app, the orders service, timers and HTTP routes. No business logic here."""

from __future__ import annotations

import logging
import os
import socket
import ssl
import tempfile
import time
from pathlib import Path
from typing import Any

import faust
import mode

from clv_stream.exceptions import StoreError
from clv_stream.metrics import WorkerMetrics
from clv_stream.pipeline import BatchOutcome, Pipeline
from clv_stream.settings import Settings
from clv_stream.store.redis_store import RedisStore
from clv_stream.web.routes import register_routes
from clv_stream.worker.kafka import BatchLoop, KafkaSink
from clv_stream.worker.refit import RefitPass

__all__ = ["OrdersService", "create_app"]

logger = logging.getLogger(__name__)
#: The due index of customers without a home partition (see ``RedisStore``).
HOMELESS = -1


class OrdersService(mode.Service):
    """Owns the store, the pipeline and the batch loop for the lifetime of the worker."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        self.settings = settings
        self.store = RedisStore.from_url(
            settings.redis_dsn, settings.redis_key_prefix,
            int(settings.dedupe_window.total_seconds() * 1000),
        )
        self.pipeline = Pipeline(settings, self.store)
        self.metrics = WorkerMetrics()
        self.sink = KafkaSink(settings)
        self.loop_ = BatchLoop(settings, self.pipeline.process, self.sink, self._confirm)
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
        await self.store.ping()
        model = await self.store.current_model()
        if model is not None:
            self.pipeline.model = model
        logger.info("scoring with model %s", self.pipeline.model.version)
        self.metrics.model(self.pipeline.model.version)
        await self.sink.start()
        await self.loop_.start()

    async def on_stop(self) -> None:
        await self.loop_.stop()
        self.pipeline.close()
        await self.sink.stop()
        await self.store.close()

    @mode.Service.task
    async def _consume(self) -> None:
        await self.loop_.run()

    @mode.Service.task
    async def _time_decay(self) -> None:
        """Re-score due customers that have no home partition (never keyed by their id).

        Customers with a home are re-scored by the consume lane that owns it (see
        :class:`~clv_stream.worker.kafka.BatchLoop`); these few run between batches, through
        the same script (an entry of a customer that has a home by now is handed to it).
        """
        while not self.should_stop:
            try:
                waiting = await self.store.due(until=await self.store.clock(), limit=1)
            except StoreError as exc:
                logger.warning("cannot look for due customers: %s", exc)
                waiting = []
            full = await self.loop_.exclusive(self._sweep_homeless) if waiting else False
            if not full:
                await self.sleep(self.settings.due_poll_interval)

    async def _sweep_homeless(self) -> bool:
        outcome = await self.pipeline.process([], shards=[HOMELESS])
        await self.sink.send(outcome.records)
        await self._confirm(outcome)
        return outcome.full_look

    @mode.Service.task
    async def _watch_model(self) -> None:
        """Hot reload: poll for the current model; its refit pass runs in the background."""
        while not self.should_stop:
            try:
                model = await self.store.current_model()
            except StoreError as exc:
                logger.warning("cannot check for a new model: %s", exc)
                model = None
            if model is not None:
                if model.version != self.pipeline.model.version:
                    logger.info("model %s -> %s", self.pipeline.model.version, model.version)
                    self.pipeline.model = model
                    self.metrics.model(model.version)
                if self.refit.running is None:
                    self.add_future(self.refit.maybe_run(model.version))
            await self.sleep(self.settings.model_poll_interval)


def faust_credentials(settings: Settings) -> faust.SASLCredentials | faust.SSLCredentials | None:
    """The Kafka credentials of the settings, in Faust's terms (its own producer and group)."""
    ssl_context = None
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        ssl_context = ssl.create_default_context(cafile=settings.kafka_ssl_cafile)
    if settings.kafka_sasl_mechanism:
        password = settings.kafka_sasl_password
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password else None,
            mechanism=settings.kafka_sasl_mechanism, ssl_context=ssl_context)
    return faust.SSLCredentials(ssl_context) if ssl_context else None


def create_app(settings: Settings) -> tuple[faust.App, OrdersService]:
    datadir = Path(tempfile.gettempdir()) / "clv-stream" / settings.app_id
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        broker_credentials=faust_credentials(settings),
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
    register_routes(app, service.store, service.pipeline, service.metrics, settings)
    return app, service
