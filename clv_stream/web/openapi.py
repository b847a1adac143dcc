"""The HTTP API as an OpenAPI 3.1 document, served at ``GET /openapi.json``.

:data:`ENDPOINTS` is the one list of the API's paths: :func:`~clv_stream.web.routes.register_routes`
refuses to start when the routes it registers and this list differ, and the HTTP tests
validate real responses against the schemas here. Bodies are described by pydantic models
(a customer's value is the contract's ``CustomerValue``, the same model as on ``clv.updates``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from clv_stream.events.models import CustomerValue

__all__ = ["ENDPOINTS", "Endpoint", "document"]


class CustomerView(BaseModel):
    """A customer's current value and segments, as of the stream's event time."""

    customer_id: str
    tenant_id: str
    as_of: str
    currency: str
    model_version: str
    value: CustomerValue
    segments: dict[str, str] = Field(description="dimension -> label")


class HistoryPoint(BaseModel):
    as_of: str
    cause: str
    total_clv: str
    predicted_clv: str
    p_alive: float
    churn_risk: float
    segments: dict[str, str]


class History(BaseModel):
    """A customer's last ``CLV_HISTORY_POINTS`` published values, oldest first."""

    customer_id: str
    tenant_id: str
    history: list[HistoryPoint]


class SegmentCounts(BaseModel):
    """Customers per label of each segment dimension."""

    tenant_id: str
    as_of: str
    segments: dict[str, dict[str, int]]


class Report(BaseModel):
    """A tenant's portfolio: figures overall and per segment label (``clv-stream report``)."""

    model_config = ConfigDict(extra="allow")

    tenant_id: str
    as_of: str
    currency: str
    model_version: str
    period: str = Field(description="The measurement period, whole months (P12M)")
    period_start: str = Field(description='Its first month, "YYYY-MM"')
    period_end: str = Field(description='Its last month (that of as_of), "YYYY-MM"')
    kpis: dict[str, Any] = Field(
        description="customers, active_customers, orders, revenue, repeat_purchase_rate, "
                    "retention_rate, churn_rate, average_lifespan_years, average_order_value, "
                    "purchase_frequency, margin, traditional_clv, "
                    "traditional_clv_measured_lifespan")
    overall: dict[str, Any] = Field(description="The period's figures and the CLV sums")
    segments: dict[str, dict[str, dict[str, Any]]] = Field(
        description="dimension -> label -> customers, orders, revenue, CLV sums")
    by_channel: dict[str, dict[str, Any]] = Field(
        description="acquisition channel -> customers, spend, cac, average_total_clv, "
                    "clv_to_cac, payback_months")
    cohorts: dict[str, dict[str, Any]] = Field(
        description='first-order month "YYYY-MM" -> customers, retention[k], '
                    "revenue_per_customer[k] (cumulative), average_total_clv")
    clv_distribution: dict[str, list[Any]] = Field(
        description="edges (lower edges of total CLV bins) and counts")
    subscriptions: dict[str, Any] | None = Field(
        description="MRR, ARR, subscribers, ARPU and monthly movements; null without subscribers")


class Transition(BaseModel):
    at: str
    customer_id: str
    dimension: str
    from_: str | None = Field(alias="from")
    to: str | None


class Transitions(BaseModel):
    """A tenant's last segment transitions (newest first) and the counts so far."""

    tenant_id: str
    transitions: list[Transition]
    counts: dict[str, list[dict[str, Any]]] = Field(
        description="dimension -> [{from, to, customers}], most frequent first")


class Tenant(BaseModel):
    tenant_id: str
    customers: int
    currency: str
    model_version: str
    settings: dict[str, Any] = Field(description="its own settings ({}: the platform's)")


class Tenants(BaseModel):
    """Tenants with their customer counts and settings."""

    tenants: list[Tenant]


class Health(BaseModel):
    """Whether the worker serves, and its dependencies' states (no hosts, no error text)."""

    model_config = ConfigDict(extra="allow")

    status: Literal["ok", "degraded"]
    checks: dict[str, dict[str, Any]]


class Error(BaseModel):
    error: str


@dataclass(frozen=True, slots=True)
class Endpoint:
    path: str
    summary: str
    model: type[BaseModel] | None  # None: not JSON (media type below)
    errors: tuple[int, ...] = ()
    media_type: str = "application/json"
    open: bool = False  # served without the token
    query: tuple[tuple[str, str], ...] = ()  # (name, description) of optional parameters


_PERIOD = (("period", "Measurement period, ISO 8601 months or years (default P12M)"),)

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("/customers/{customer_id}", "A customer of the default tenant", CustomerView,
             (404, 503)),
    Endpoint("/tenants/{tenant}/customers/{customer_id}", "A tenant's customer", CustomerView,
             (400, 404, 503)),
    Endpoint("/customers/{customer_id}/history", "A customer's value history (default tenant)",
             History, (404, 503)),
    Endpoint("/tenants/{tenant}/customers/{customer_id}/history", "A customer's value history",
             History, (400, 404, 503)),
    Endpoint("/segments", "Segment counts of the default tenant", SegmentCounts, (503,)),
    Endpoint("/tenants/{tenant}/segments", "A tenant's segment counts", SegmentCounts, (400, 503)),
    Endpoint("/report", "The default tenant's report", Report, (400, 503), query=_PERIOD),
    Endpoint("/tenants/{tenant}/report", "A tenant's report", Report, (400, 503),
             query=_PERIOD),
    Endpoint("/transitions", "Recent segment transitions of the default tenant", Transitions,
             (503,)),
    Endpoint("/tenants/{tenant}/transitions", "A tenant's recent segment transitions",
             Transitions, (400, 503)),
    Endpoint("/tenants", "Tenants, their customers and settings", Tenants, (503,)),
    Endpoint("/healthz", "Liveness and dependencies", Health, open=True),
    Endpoint("/metrics", "Prometheus metrics", None, media_type="text/plain"),
    Endpoint("/openapi.json", "This document", None),
    Endpoint("/", "The dashboard page (it asks for the token, if one is set)", None,
             media_type="text/html", open=True),
    Endpoint("/static/{name}", "The dashboard's script, style sheet and vendored Chart.js",
             None, (404,), media_type="text/javascript", open=True),
)

_STATUS = {400: "Not a tenant id, or not a period", 401: "Missing or wrong bearer token",
           404: "Unknown customer, or no such file", 503: "Redis or the report is unavailable"}


def document() -> dict[str, Any]:
    """The OpenAPI document of :data:`ENDPOINTS`."""
    models = sorted({e.model for e in ENDPOINTS if e.model is not None} | {Error},
                    key=lambda m: m.__name__)
    _, schemas = models_json_schema([(m, "serialization") for m in models],
                                    ref_template="#/components/schemas/{model}")
    paths: dict[str, Any] = {}
    for e in ENDPOINTS:
        body = {} if e.model is None else {"schema": {"$ref": _ref(e.model)}}
        content: dict[str, Any] = {e.media_type: body}
        responses: dict[str, Any] = {"200": {"description": "OK", "content": content}}
        for status in (*e.errors, *(() if e.open else (401,))):
            responses[str(status)] = {"description": _STATUS[status], "content": {
                "application/json": {"schema": {"$ref": _ref(Error)}}}}
        operation: dict[str, Any] = {"summary": e.summary, "responses": responses,
                                     "operationId": _operation_id(e.path)}
        parameters = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                      for n in re.findall(r"{(\w+)}", e.path)]
        parameters += [{"name": n, "in": "query", "required": False, "description": d,
                        "schema": {"type": "string"}} for n, d in e.query]
        if parameters:
            operation["parameters"] = parameters
        if e.open:
            operation["security"] = []
        paths[e.path] = {"get": operation}
    return {
        "openapi": "3.1.0",
        "info": {"title": "clv-stream", "version": "2",
                 "description": "The worker's HTTP API (contract version 2). With CLV_WEB_TOKEN "
                                "set, every path but the open ones needs the bearer token."},
        "paths": paths,
        "components": {"schemas": schemas["$defs"],
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
    }


def _ref(model: type[BaseModel]) -> str:
    return f"#/components/schemas/{model.__name__}"


def _operation_id(path: str) -> str:
    words = [w.strip("{}") for w in path.strip("/").replace(".", "_").split("/") if w]
    return "get_" + ("_".join(words) or "dashboard")
