"""The worker's HTTP API: customer lookup, segments, report, health, metrics, dashboard.

Also its safety: the bearer token (``CLV_WEB_TOKEN``), ``/healthz`` that reveals nothing,
a report served from a background cache, and a customer whose scoring raises skipped from
the report (and answered with a generic 500) instead of failing it for everyone.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest
from pydantic import SecretStr

from clv_stream.devinfra import EmbeddedBroker, EmbeddedRedis
from clv_stream.devinfra.stack import EMBEDDED_BROKER_ENV, WorkerProcess
from clv_stream.domain.tenant import TenantSettings
from clv_stream.events.models import CustomerValue
from clv_stream.report import ReportCache, ReportUnavailable
from clv_stream.sources import synthetic_orders
from clv_stream.web.assets import ASSETS
from clv_stream.web.openapi import document
from tests.corpus import order, subscription
from tests.integration.harness import Harness, until

#: Before 0001-01-01 in epoch seconds: a first order no calendar can date (scoring raises).
BEFORE_YEAR_ONE = -62135596801


@pytest.fixture(scope="module")
async def served(kafka_broker: EmbeddedBroker, redis_server: EmbeddedRedis) -> Iterator[Harness]:
    with Harness.running(kafka_broker, redis_server, report_interval=0.5) as h:
        await h.wait_applied(await h.produce_events(synthetic_orders(60, seed=5)))
        yield h


def _json(h: Harness, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    status, body = h.get(path, headers)
    return status, json.loads(body)


def test_customer_lookup(served: Harness) -> None:
    status, body = _json(served, "/customers/cust-00001")
    assert status == 200
    CustomerValue.model_validate(body["value"])
    assert body["customer_id"] == "cust-00001"
    assert set(body["segments"]) == {"value_tier", "lifecycle", "rfm"}
    assert _json(served, "/customers/nobody")[0] == 404


def test_every_json_answer_is_what_openapi_json_says(served: Harness) -> None:
    status, doc = _json(served, "/openapi.json")
    assert status == 200
    assert doc == json.loads(json.dumps(document()))

    def valid(path: str, code: int, model: str) -> None:
        # a report is computed in the background: 503 until the first is ready
        status, body = until(lambda: (found := _json(served, path))[0] != 503 and found,
                              what=f"{path} served")
        assert status == code, path
        jsonschema.Draft202012Validator({**doc, "$ref": f"#/components/schemas/{model}"}).validate(body)

    valid("/customers/cust-00001", 200, "CustomerView")
    valid("/tenants/default/customers/nobody", 404, "Error")
    valid("/segments", 200, "SegmentCounts")
    valid("/tenants/default/report", 200, "Report")
    valid("/tenants/sh*p/report", 400, "Error")
    valid("/tenants", 200, "Tenants")
    valid("/healthz", 200, "Health")
    valid("/customers/cust-00001/history", 200, "History")
    valid("/tenants/default/customers/nobody/history", 404, "Error")


async def test_a_customer_s_history_is_its_published_values_in_order(served: Harness) -> None:
    before = _json(served, "/customers/hist-1/history")
    assert before[0] == 404
    times = ["2024-05-01T10:00:00Z", "2024-06-01T10:00:00Z", "2024-07-01T10:00:00Z"]
    for i, at in enumerate(times):
        await served.wait_applied(await served.produce_events([order(
            order_id=f"h-{i}", customer_id="hist-1", amount="40.00", occurred_at=at)]))

    def three() -> Any:
        body = _json(served, "/customers/hist-1/history")[1]
        return body if len(body.get("history", [])) >= 3 else None

    body = until(three, what="three history points")
    points = body["history"]
    assert [p["as_of"] for p in points] == sorted(p["as_of"] for p in points)
    assert all(p["cause"] == "order_placed" for p in points)
    _, now = _json(served, "/customers/hist-1")
    assert points[-1]["total_clv"] == now["value"]["total_clv"]
    assert points[-1]["segments"] == now["segments"]
    assert _json(served, "/tenants/default/customers/hist-1/history") == (200, body)


def test_segments_and_report_agree(served: Harness) -> None:
    status, segments = _json(served, "/segments")
    assert status == 200
    _, report = _json(served, "/report")
    for dim, counts in segments["segments"].items():
        assert sum(counts.values()) == report["overall"]["customers"]
        assert counts == {k: v["customers"] for k, v in report["segments"][dim].items()}
    assert report["kpis"]["customers"] == report["overall"]["customers"] > 0
    assert served.get("/report?period=P1W")[0] == 400  # periods are whole months
    assert _json(served, "/report?period=P1Y")[1]["period"] == "P12M"


def test_the_v1_paths_are_the_default_tenant_s(served: Harness) -> None:
    assert _json(served, "/tenants/default/customers/cust-00001") == _json(
        served, "/customers/cust-00001")
    assert _json(served, "/tenants/default/report") == _json(served, "/report")
    status, body = _json(served, "/tenants/shop-2/customers/cust-00001")  # not shop-2's
    assert (status, body["tenant_id"]) == (404, "shop-2")
    status, report = _json(served, "/tenants/shop-2/report")
    assert (status, report["tenant_id"], report["overall"]["customers"]) == (200, "shop-2", 0)
    assert _json(served, "/tenants/sh*p/report")[0] == 400  # not a tenant id (nor a glob)


async def test_a_tenant_s_settings_reach_the_running_worker_and_tenants_are_listed(
        served: Harness) -> None:
    store = served.store()
    try:
        await store.set_tenant("shop-eu", TenantSettings(currency="EUR"))
        known = len([k async for page in store.scan_customer_ids(tenant="default")
                     for k in page])
    finally:
        await store.close()

    def listed() -> Any:
        rows = {t["tenant_id"]: t for t in _json(served, "/tenants")[1]["tenants"]}
        return rows if rows.get("shop-eu", {}).get("currency") == "EUR" else None

    rows = until(listed, what="the worker reading the tenant's settings")  # no restart
    assert rows["default"]["customers"] == known
    assert rows["shop-eu"]["settings"] == {"currency": "EUR"}
    high = await served.produce_events([order(order_id="eu-1", customer_id="eu-buyer",
                                              tenant_id="shop-eu", amount="11.00",
                                              currency="USD")])
    await served.wait_confirmed(high)
    status, body = _json(served, "/tenants/shop-eu/customers/eu-buyer")
    # 11 USD at the platform's rates crossed into EUR (1 / 1.10)
    assert (status, body["currency"], body["value"]["net_revenue"]) == (200, "EUR", "10.00")
    rows = {t["tenant_id"]: t for t in _json(served, "/tenants")[1]["tenants"]}
    assert rows["shop-eu"]["customers"] == 1


async def test_subscription_gauges_per_tenant(served: Harness) -> None:
    await served.wait_confirmed(await served.produce_events([
        subscription(customer_id="gauge-1", subscription_id="g-1", tenant_id="shop-subs",
                     amount="120.00", interval="year",  # paid up at the stream's clock (now)
                     occurred_at=(datetime.now(UTC) - timedelta(hours=1)).isoformat())]))

    def gauges() -> Any:
        text = served.get("/metrics")[1].decode()
        wanted = ('clv_subscription_mrr{tenant="shop-subs"} 10.0',
                  'clv_subscription_active_subscribers{tenant="shop-subs"} 1.0')
        return all(line in text for line in wanted)

    until(gauges, what="the subscription gauges")


def test_health_metrics_and_dashboard(served: Harness) -> None:
    assert _json(served, "/healthz") == (200, {"status": "ok", "checks": {
        "redis": {"status": "ok"}, "kafka": {"status": "ok"}}, "model_version": "default"})
    status, metrics = served.get("/metrics")
    assert status == 200
    assert b'clv_orders_total{outcome="applied"}' in metrics
    assert b"clv_consumer_lag 0.0" in metrics  # everything produced was applied
    status, page = served.get("/")
    assert status == 200
    assert b"<title>clv-stream</title>" in page


def _reveals(body: bytes, *ports: int) -> list[str]:
    """Hosts, ports or error text found in a response body."""
    text = body.decode().lower()
    words = ["127.0.0.1", "localhost", "redis://", "error", "refused", "timeout", "exception",
             *(str(p) for p in ports)]
    return [w for w in words if w in text]


def test_healthz_reveals_no_host_port_or_error_text(
        served: Harness, kafka_broker: EmbeddedBroker, redis_server: EmbeddedRedis) -> None:
    status, body = served.get("/healthz")
    assert status == 200
    assert _reveals(body, redis_server.port, kafka_broker.port, served.settings.web_port) == []


async def test_healthz_is_degraded_not_down_when_redis_is(kafka_broker: EmbeddedBroker) -> None:
    """A worker on a redis-server of its own, stopped under it: 200 degraded, nothing revealed."""
    own = EmbeddedRedis(ready_timeout_s=20.0)
    own.start()
    try:
        with Harness.running(kafka_broker, own) as h:
            assert _json(h, "/healthz")[1]["status"] == "ok"
            port = own.port
            own.stop()

            def degraded() -> tuple[int, bytes] | None:
                status, body = h.get("/healthz")
                return (status, body) if json.loads(body)["status"] == "degraded" else None

            status, body = await asyncio.to_thread(until, degraded, 30.0, "healthz degraded")
            assert status == 200
            assert json.loads(body)["checks"]["redis"]["status"] == "degraded"
            assert _reveals(body, port, kafka_broker.port, h.settings.web_port) == []
    finally:
        own.close()


# --- access -----------------------------------------------------------------------------
TOKEN = "t0k3n-" + uuid.uuid4().hex


@contextmanager
def _with_token(broker: EmbeddedBroker, redis: EmbeddedRedis) -> Iterator[Harness]:
    h = Harness(broker, redis, web_token=SecretStr(TOKEN))
    # the child's environment from settings_env() masks SecretStr fields other than the
    # Redis URL and the SASL password, so the token goes in explicitly
    h.worker = WorkerProcess(h.settings, extra_env={**EMBEDDED_BROKER_ENV, "CLV_WEB_TOKEN": TOKEN})
    h.worker.start()
    try:
        yield h
    finally:
        h.stop_worker()


@pytest.fixture(scope="module")
def guarded(kafka_broker: EmbeddedBroker, redis_server: EmbeddedRedis) -> Iterator[Harness]:
    with _with_token(kafka_broker, redis_server) as h:
        yield h


def _www_authenticate(h: Harness, path: str) -> str | None:
    url = f"http://{h.settings.web_host}:{h.settings.web_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=10):
            return None
    except urllib.error.HTTPError as exc:
        return exc.headers.get("WWW-Authenticate") if exc.code == 401 else None


DATA_PATHS = ["/customers/cust-00001", "/report", "/segments", "/metrics",
              # later (tenants, history, openapi) and Faust's own pages: guarded by default
              "/tenants", "/openapi.json", "/router/"]


@pytest.mark.parametrize("path", DATA_PATHS)
def test_data_endpoints_need_the_token(guarded: Harness, path: str) -> None:
    for headers in (None, {"Authorization": "Bearer wrong"},
                    {"Authorization": f"Basic {TOKEN}"}, {"Authorization": TOKEN},
                    {"Authorization": f"Bearer {TOKEN}x"}):
        status, body = guarded.get(path, headers)
        assert status == 401, (headers, body)
        assert TOKEN.encode() not in body
    assert (_www_authenticate(guarded, path) or "").startswith("Bearer")


def test_the_token_opens_them(guarded: Harness) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for path in ("/report", "/segments", "/metrics"):
        assert guarded.get(path, auth)[0] == 200, path
    assert guarded.get("/customers/nobody", auth)[0] == 404  # past the guard
    assert guarded.get("/customers/nobody", {"Authorization": f"bearer  {TOKEN} "})[0] == 404


def test_dashboard_its_files_and_healthz_stay_open(guarded: Harness) -> None:
    # the page carries no data (tests/browser show it asking for the token on a 401)
    status, page = guarded.get("/")
    assert status == 200
    # everything it loads comes from the worker: no CDN, no build step
    loaded = re.findall(rb'(?:src|href)="([^"]+)"', page)
    assert loaded
    assert all(url.startswith(b"/static/") or url.startswith(b"data:") for url in loaded), loaded
    for name, asset in ASSETS.items():
        status, body = guarded.get(f"/static/{name}")
        assert status == 200, name
        assert body == asset.file.read_bytes()
    assert guarded.get("/static/secrets.txt")[0] == 404
    assert guarded.get("/static/..%2Fpy.typed")[0] == 404
    status, body = guarded.get("/healthz")
    assert status == 200
    assert json.loads(body)["status"] == "ok"


def test_a_browser_loads_the_page_and_its_files_once_until_they_change(guarded: Harness) -> None:
    base = f"http://{guarded.settings.web_host}:{guarded.settings.web_port}"
    for path in ("/", *(f"/static/{name}" for name in ASSETS)):
        with urllib.request.urlopen(base + path, timeout=10) as response:
            etag, body = response.headers["ETag"], response.read()
            assert response.headers["Cache-Control"] == "no-cache"  # always asks again
        assert etag, path
        assert body
        # asked again with what it holds: a bodiless 304; with another file's tag: the file
        assert guarded.get(path, {"If-None-Match": etag}) == (304, b""), path
        assert guarded.get(path, {"If-None-Match": '"an-older-file"'}) == (200, body), path


# --- isolation --------------------------------------------------------------------------
def _poison(h: Harness, redis: EmbeddedRedis, customer_id: str) -> str:
    """A customer hash whose first order no calendar can date: scoring it raises."""
    key = f"{h.settings.redis_key_prefix}:c:{customer_id}"
    client = redis.client(decode_responses=True)
    try:
        client.hset(key, mapping={"n": 1, "r": 10000, "pr": 10000, "f": BEFORE_YEAR_ONE,
                                  "l": BEFORE_YEAR_ONE, "nd": 1})
    finally:
        client.close()
    return key


def test_a_customer_whose_scoring_raises_fails_alone(
        served: Harness, redis_server: EmbeddedRedis) -> None:
    status, before = _json(served, "/report")
    assert status == 200
    customer_id = f"poisoned-{uuid.uuid4().hex[:6]}"
    key = _poison(served, redis_server, customer_id)
    try:
        status, body = served.get(f"/customers/{customer_id}")
        assert status == 500
        assert json.loads(body) == {"error": "internal error"}  # no exception text
        assert served.get("/customers/cust-00001")[0] == 200
        after = _json(served, "/report")[1]
        assert after["kpis"] == before["kpis"]  # the report scores nobody: it reads totals
        worker = served.worker
        assert worker is not None
        log = until(lambda: (lambda t: t if customer_id in t else None)(
            worker.log_path.read_text(errors="replace")), 10.0, "the worker logs it")
        lines = [line for line in log.splitlines() if customer_id in line]
        assert any("scoring raised ValueError" in line for line in lines)
    finally:
        client = redis_server.client()
        client.delete(key)
        client.close()


# --- the report cache -------------------------------------------------------------------
async def _eventually(condition: Callable[[], bool], what: str, limit_s: float = 5.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{what}: not in {limit_s} s")


async def test_report_cache_serves_from_memory_and_refreshes_bounded() -> None:
    interval, idle_after = 0.2, 0.6
    calls: list[float] = []

    async def compute() -> dict[str, Any]:
        calls.append(time.monotonic())
        await asyncio.sleep(0.01)
        return {"n": len(calls)}

    skew = [0.0]  # moves the cache's clock ahead without waiting
    cache = ReportCache(compute, interval, idle_after=idle_after,
                        clock=lambda: time.monotonic() + skew[0])
    assert await cache.get() == {"n": 1}  # the first request waits for the first computation
    for _ in range(50):
        assert (await cache.get())["n"] >= 1  # served from memory: no computation each
    assert len(calls) <= 2

    # while someone asks, refreshed in the background, at most once per interval
    deadline = time.monotonic() + 5
    while len(calls) < 4 and time.monotonic() < deadline:
        await cache.get()
        await asyncio.sleep(0.02)
    assert len(calls) >= 4
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert min(gaps) >= interval * 0.9

    # nobody asks: the refresh stops by itself
    await _eventually(lambda: not cache.refreshing, "the refresh stops")
    stopped = len(calls)
    # a request whose report is older than the idle window waits for a fresh one
    skew[0] += idle_after + 1
    assert (await cache.get())["n"] == stopped + 1
    assert cache.refreshing
    await cache.aclose()


async def test_report_cache_failures() -> None:
    attempts = 0

    async def failing() -> dict[str, Any]:
        nonlocal attempts
        attempts += 1
        if attempts == 1 or attempts >= 3:
            raise RuntimeError("redis://user:secret@somewhere:6379 refused")
        return {"ok": True}

    cache = ReportCache(failing, 0.05, idle_after=5.0)
    with pytest.raises(ReportUnavailable):
        await cache.get()  # the first computation failed: no report to serve
    deadline = time.monotonic() + 5
    report = None
    while report is None and time.monotonic() < deadline:
        try:
            report = await cache.get()
        except ReportUnavailable:
            await asyncio.sleep(0.02)
    assert report == {"ok": True}
    await _eventually(lambda: attempts >= 4, "two more failed computations")
    assert await cache.get() == {"ok": True}  # later failures keep the last report
    await cache.aclose()
    assert not cache.refreshing


async def test_a_customer_s_acquisition_channel_is_its_first_order_s(served: Harness) -> None:
    events = [order(order_id="ac-2", customer_id="acq-1", channel="web",
                    occurred_at="2024-05-02T10:00:00Z"),
              order(order_id="ac-1", customer_id="acq-1", channel="app",
                    occurred_at="2024-05-01T10:00:00Z"),  # earlier, delivered later
              order(order_id="ac-3", customer_id="acq-2", occurred_at="2024-05-01T10:00:00Z")]
    await served.wait_applied(await served.produce_events(events))
    assert _json(served, "/customers/acq-1")[1]["value"]["acquisition_channel"] == "app"
    assert _json(served, "/customers/acq-2")[1]["value"]["acquisition_channel"] == "unknown"
    cancel = order(event_type="order_cancelled", order_id="ac-1", customer_id="acq-1",
                   channel="app", occurred_at="2024-05-03T10:00:00Z")
    await served.wait_applied(await served.produce_events([cancel]))
    # its first order not cancelled is now the one from the web
    assert _json(served, "/customers/acq-1")[1]["value"]["acquisition_channel"] == "web"
