"""HTTP endpoints served by the worker's Faust web server (``CLV_WEB_PORT``)."""

from __future__ import annotations

from typing import Any

import faust
from faust.web import Request, Response, View

from clv_stream.exceptions import StoreError
from clv_stream.pipeline import Pipeline
from clv_stream.store.redis_store import RedisStore

__all__ = ["register_routes"]


def register_routes(app: faust.App, store: RedisStore, pipeline: Pipeline) -> None:
    @app.page("/customers/{customer_id}")
    class Customer(View):
        async def get(self, request: Request, customer_id: str) -> Response:
            view = await pipeline.customer_view(customer_id)
            if view is None:
                return self.json({"error": "unknown customer", "customer_id": customer_id},
                                 status=404)
            return self.json(view)

    @app.page("/healthz")
    class Health(View):
        async def get(self, request: Request) -> Response:
            status: dict[str, Any] = {"status": "ok", "model_version": pipeline.model.version}
            try:
                await store.ping()
            except StoreError as exc:
                return self.json({"status": "unavailable", "redis": str(exc)}, status=503)
            return self.json(status)
