"""HTTP endpoints served by the worker's Faust web server (``CLV_WEB_PORT``).

``GET /customers/{id}``, ``/segments``, ``/report``, ``/healthz``, ``/metrics``, ``/``.
``/segments`` and ``/report`` scan every customer (SCAN in pages), which is fine for tens of
thousands of customers; an incremental portfolio maintained by the worker is planned.
"""

from __future__ import annotations

import asyncio
import time
from importlib.resources import files
from typing import Any

import faust
from faust.web import Request, Response, View

from clv_stream.exceptions import StoreError
from clv_stream.metrics import WorkerMetrics
from clv_stream.pipeline import Pipeline
from clv_stream.report import build_report
from clv_stream.settings import Settings
from clv_stream.store.redis_store import RedisStore

__all__ = ["register_routes"]

_DASHBOARD = files("clv_stream.web").joinpath("static", "dashboard.html")


#: /report and /segments scan every customer; several dashboards share one scan per period.
REPORT_TTL_S = 5.0


def register_routes(app: faust.App, store: RedisStore, pipeline: Pipeline,
                    metrics: WorkerMetrics, settings: Settings) -> None:
    cache: dict[str, Any] = {"at": -REPORT_TTL_S, "report": None}
    lock = asyncio.Lock()

    async def report() -> dict[str, Any]:
        async with lock:
            if time.monotonic() - cache["at"] >= REPORT_TTL_S:
                cache["report"] = await build_report(store, pipeline, settings.lifespan_years)
                cache["at"] = time.monotonic()
            return dict(cache["report"])

    @app.page("/customers/{customer_id}")
    class Customer(View):
        async def get(self, request: Request, customer_id: str) -> Response:
            view = await pipeline.customer_view(customer_id)
            if view is None:
                return self.json({"error": "unknown customer", "customer_id": customer_id},
                                 status=404)
            return self.json(view)

    @app.page("/segments")
    class Segments(View):
        async def get(self, request: Request) -> Response:
            summary = await report()
            counts: dict[str, Any] = {
                dim: {label: figures["customers"] for label, figures in labels.items()}
                for dim, labels in summary["segments"].items()
            }
            return self.json({"as_of": summary["as_of"], "segments": counts})

    @app.page("/report")
    class Report(View):
        async def get(self, request: Request) -> Response:
            return self.json(await report())

    @app.page("/healthz")
    class Health(View):
        async def get(self, request: Request) -> Response:
            status: dict[str, Any] = {"status": "ok", "model_version": pipeline.model.version}
            try:
                await store.ping()
            except StoreError as exc:
                return self.json({"status": "unavailable", "redis": str(exc)}, status=503)
            return self.json(status)

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(metrics.render(), content_type="text/plain; version=0.0.4")

    @app.page("/")
    class Dashboard(View):
        async def get(self, request: Request) -> Response:
            return self.html(_DASHBOARD.read_text(encoding="utf-8"))
