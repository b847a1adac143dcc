"""HTTP endpoints served by the worker's Faust web server (``CLV_WEB_PORT``).

``GET /tenants/{t}/customers/{id}``, ``/tenants/{t}/report``, ``/tenants/{t}/segments``;
the v1 paths ``/customers/{id}``, ``/report``, ``/segments`` (the default tenant's);
``/healthz``, ``/metrics``, ``/openapi.json``, ``/`` (the dashboard) and its
``/static/{name}`` files: each in
:data:`clv_stream.web.openapi.ENDPOINTS`, which the registration checks.

Access (contract: "Access"): with ``CLV_WEB_TOKEN`` set, every path but the open ones
(:data:`OPEN_PATHS`: the dashboard page and its files, which carry no data, and
``/healthz``) requires
``Authorization: Bearer <token>``, checked by one middleware in front of every route, so a
path added later (and Faust's own pages) is guarded without anyone having to remember.

A tenant's report and segments are served from its :class:`~clv_stream.report.ReportCache`:
computed in the background, in a thread of its own, at most once per
``CLV_REPORT_INTERVAL``; a request never scans the customers on the event loop.

No response carries exception text, hosts or ports; log lines name exception types only
where the text could (a store error's text names the Redis host).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import faust
from aiohttp import web as aioweb
from faust.web import Request, Response, View
from pydantic import SecretStr

from clv_stream.domain.portfolio import PERIOD_DEFAULT, InvalidPeriod, parse_period, transition_counts
from clv_stream.events.patterns import is_tenant_id
from clv_stream.events.times import iso
from clv_stream.exceptions import StoreError
from clv_stream.metrics import WorkerMetrics
from clv_stream.pipeline import CustomerViews
from clv_stream.report import ReportCache, ReportUnavailable, build_report
from clv_stream.settings import Settings
from clv_stream.store.port import CustomerKey, StateStore
from clv_stream.web import openapi
from clv_stream.web.assets import ASSETS, DASHBOARD, Asset
from clv_stream.worker.health import Health

__all__ = ["HEALTH_PING_TIMEOUT_S", "OPEN_PATHS", "authorized", "register_routes"]

logger = logging.getLogger(__name__)

#: Paths (route templates) served without the token: they carry no data.
OPEN_PATHS = frozenset(e.path for e in openapi.ENDPOINTS if e.open)
#: How long ``/healthz`` waits for Redis to answer a PING.
HEALTH_PING_TIMEOUT_S = 1.0
#: Tenants' report caches kept at once (those nobody polls are forgotten first).
MAX_REPORT_CACHES = 100



def authorized(headers: Mapping[str, str], token: SecretStr | None) -> bool:
    """True when no token is set, or ``headers`` carry ``Authorization: Bearer <token>``."""
    if token is None:
        return True
    scheme, _, given = headers.get("Authorization", "").partition(" ")
    expected = token.get_secret_value().encode()
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected)


def _guard(token: SecretStr | None) -> Callable[..., Awaitable[aioweb.StreamResponse]]:
    @aioweb.middleware
    async def guard(request: aioweb.Request,
                    handler: Callable[[aioweb.Request], Awaitable[aioweb.StreamResponse]],
                    ) -> aioweb.StreamResponse:
        resource = request.match_info.route.resource
        path = request.path if resource is None else resource.canonical
        if path in OPEN_PATHS or authorized(request.headers, token):
            return await handler(request)
        return aioweb.json_response({"error": "unauthorized"}, status=401,
                                    headers={"WWW-Authenticate": 'Bearer realm="clv-stream"'})

    return guard


def register_routes(app: faust.App, store: StateStore, views: CustomerViews,
                    metrics: WorkerMetrics, settings: Settings, health: Health) -> None:
    web_app = getattr(app.web, "web_app", None)
    if not isinstance(web_app, aioweb.Application):  # pragma: no cover - Faust's default driver
        raise RuntimeError("clv-stream's HTTP API needs Faust's aiohttp web driver")
    web_app.middlewares.append(_guard(settings.web_token))
    registered: list[str] = []

    def page(path: str) -> Callable[[type[View]], type[View]]:
        registered.append(path)
        return app.page(path)

    caches: dict[tuple[str, str], ReportCache] = {}

    def reports(tenant: str, period: str) -> ReportCache:
        """The tenant's report cache (each refreshes only while someone asks for it)."""
        found = caches.get((tenant, period))
        if found is None:
            if len(caches) >= MAX_REPORT_CACHES:  # forget those nobody keeps fresh
                for idle in [t for t, c in caches.items() if not c.refreshing]:
                    del caches[idle]

            async def compute() -> dict[str, Any]:
                return await build_report(store, views, settings.lifespan_years, tenant=tenant,
                                          period=period)

            found = caches[(tenant, period)] = ReportCache(compute, settings.report_interval)
        return found

    async def report_of(view: View, request: Request, tenant: str,
                        segments_only: bool) -> Response:
        if not is_tenant_id(tenant):
            return view.json({"error": "invalid tenant_id"}, status=400)
        period = request.query.get("period", PERIOD_DEFAULT)
        try:
            period = f"P{parse_period(period)}M"
        except InvalidPeriod as exc:
            return view.json({"error": str(exc)}, status=400)
        try:
            summary = await reports(tenant, period).get()
        except ReportUnavailable:
            return view.json({"error": "report unavailable"}, status=503)
        if not segments_only:
            return view.json(summary)
        counts: dict[str, Any] = {
            dim: {label: figures["customers"] for label, figures in labels.items()}
            for dim, labels in summary["segments"].items()
        }
        return view.json({"tenant_id": tenant, "as_of": summary["as_of"], "segments": counts})

    async def about(view: View, tenant: str, customer_id: str, what: str,
                    read: Callable[[CustomerKey], Awaitable[Any]]) -> Response:
        """A customer's ``what`` as ``read`` finds it (None: an unknown customer)."""
        if not is_tenant_id(tenant):
            return view.json({"error": "invalid tenant_id"}, status=400)
        try:
            found = await read((tenant, customer_id))
        except StoreError as exc:
            logger.warning("%s of %r of %r: store unavailable (%s)", what, customer_id, tenant,
                           type(exc).__name__)
            return view.json({"error": "store unavailable"}, status=503)
        except Exception as exc:  # one customer's state must not take the API down
            logger.error("%s of %r of %r: scoring raised %s", what, customer_id, tenant,
                         type(exc).__name__, exc_info=exc)
            return view.json({"error": "internal error"}, status=500)
        if found is None:
            return view.json({"error": "unknown customer", "customer_id": customer_id,
                              "tenant_id": tenant}, status=404)
        return view.json(found)

    async def customer(view: View, tenant: str, customer_id: str) -> Response:
        return await about(view, tenant, customer_id, "value", views.customer_view)

    async def history_of(key: CustomerKey) -> dict[str, Any] | None:
        points = await views.customer_history(key)
        return None if points is None else {"customer_id": key[1], "tenant_id": key[0],
                                            "history": points}

    async def history(view: View, tenant: str, customer_id: str) -> Response:
        return await about(view, tenant, customer_id, "history", history_of)

    @page("/customers/{customer_id}/history")
    class History(View):  # the default tenant's
        async def get(self, request: Request, customer_id: str) -> Response:
            return await history(self, settings.default_tenant, customer_id)

    @page("/tenants/{tenant}/customers/{customer_id}/history")
    class TenantHistory(View):
        async def get(self, request: Request, tenant: str, customer_id: str) -> Response:
            return await history(self, tenant, customer_id)

    @page("/customers/{customer_id}")
    class Customer(View):  # v1: the default tenant's
        async def get(self, request: Request, customer_id: str) -> Response:
            return await customer(self, settings.default_tenant, customer_id)

    @page("/tenants/{tenant}/customers/{customer_id}")
    class TenantCustomer(View):
        async def get(self, request: Request, tenant: str, customer_id: str) -> Response:
            return await customer(self, tenant, customer_id)

    @page("/segments")
    class Segments(View):  # v1: the default tenant's
        async def get(self, request: Request) -> Response:
            return await report_of(self, request, settings.default_tenant, segments_only=True)

    @page("/tenants/{tenant}/segments")
    class TenantSegments(View):
        async def get(self, request: Request, tenant: str) -> Response:
            return await report_of(self, request, tenant, segments_only=True)

    @page("/report")
    class Report(View):  # v1: the default tenant's
        async def get(self, request: Request) -> Response:
            return await report_of(self, request, settings.default_tenant, segments_only=False)

    @page("/tenants/{tenant}/report")
    class TenantReport(View):
        async def get(self, request: Request, tenant: str) -> Response:
            return await report_of(self, request, tenant, segments_only=False)

    async def transitions(view: View, tenant: str) -> Response:
        if not is_tenant_id(tenant):
            return view.json({"error": "invalid tenant_id"}, status=400)
        try:
            lines, totals = await asyncio.gather(store.recent_transitions(tenant),
                                                 store.portfolio_totals(tenant))
        except StoreError as exc:
            logger.warning("transitions: store unavailable (%s)", type(exc).__name__)
            return view.json({"error": "store unavailable"}, status=503)
        return view.json({"tenant_id": tenant, "transitions": [_transition(line) for line in lines],
                          "counts": transition_counts(totals)})

    @page("/transitions")
    class Transitions(View):  # the default tenant's
        async def get(self, request: Request) -> Response:
            return await transitions(self, settings.default_tenant)

    @page("/tenants/{tenant}/transitions")
    class TenantTransitions(View):
        async def get(self, request: Request, tenant: str) -> Response:
            return await transitions(self, tenant)

    @page("/tenants")
    class Tenants(View):
        async def get(self, request: Request) -> Response:
            try:
                counts = await store.tenant_customers()
            except StoreError as exc:
                logger.warning("tenants: store unavailable (%s)", type(exc).__name__)
                return self.json({"error": "store unavailable"}, status=503)
            own = views.tenants
            return self.json({"tenants": [
                {"tenant_id": t, "customers": counts.get(t, 0),
                 "currency": views.scoring(t).currency,
                 "model_version": views.scoring(t).model.version,
                 "settings": own[t].model_dump(mode="json", exclude_none=True)
                 if t in own else {}}
                for t in sorted({*counts, *own})]})

    @page("/healthz")
    class Healthz(View):
        async def get(self, request: Request) -> Response:
            body = await _health(store, health)
            body["model_version"] = views.model.version  # which model scores, no secret
            return self.json(body)

    @page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(metrics.render(), content_type="text/plain; version=0.0.4")

    @page("/openapi.json")
    class OpenApi(View):
        async def get(self, request: Request) -> Response:
            return self.json(openapi.document())

    @page("/")
    class Dashboard(View):
        async def get(self, request: Request) -> Response:
            return _asset(self, request, DASHBOARD)

    @page("/static/{name}")
    class Static(View):
        async def get(self, request: Request, name: str) -> Response:
            asset = ASSETS.get(name)
            if asset is None:
                return self.json({"error": "not found"}, status=404)
            return _asset(self, request, asset)

    documented = [e.path for e in openapi.ENDPOINTS]
    if sorted(registered) != sorted(documented):  # a path added in one place only
        raise RuntimeError(f"routes {sorted(set(registered) ^ set(documented))} are not both "
                           "registered and in clv_stream.web.openapi.ENDPOINTS")


def _asset(view: View, request: Request, asset: Asset) -> Response:
    """A package file, revalidated on every load (``no-cache``: an upgraded worker's page is
    never stale) and sent again only when its ETag changed."""
    headers = {"Cache-Control": "no-cache", "ETag": asset.etag}
    if asset.etag in request.headers.get("If-None-Match", ""):
        return view.bytes(b"", status=304, headers=headers)
    return view.bytes(asset.content, content_type=asset.content_type, headers=headers)


def _transition(line: str) -> dict[str, Any]:
    at, customer_id, dimension, old, new = line.split("\t")
    return {"at": iso(int(at)), "customer_id": customer_id, "dimension": dimension,
            "from": old or None, "to": new or None}


async def _health(store: StateStore, health: Health) -> dict[str, Any]:
    """The worker's view of its dependencies, with a live, bounded Redis PING: a worker that
    answers serves (200), degraded or not. Check names, states and seconds only."""
    body = health.snapshot()
    try:
        redis_ok = bool(await asyncio.wait_for(store.ping(), HEALTH_PING_TIMEOUT_S))
    except Exception:  # unreachable, slow, refused: all the same to a probe
        redis_ok = False
    if not redis_ok:
        body["checks"]["redis"] = {**body["checks"]["redis"], "status": "degraded"}
        body["status"] = "degraded"
    return body
