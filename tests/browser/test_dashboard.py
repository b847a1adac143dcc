"""The dashboard in a real browser, against a worker consuming a stream.

What an operator and a marketer see: the report's figures as the API gives them, charts
that follow the stream while it runs, live throughput, the segment-change feed, channels
with CAC, the cohort heatmap, MRR, and a customer's values and CLV history on lookup; with
``CLV_WEB_TOKEN`` set, the page asks for the token before it shows anything. Screenshots go
to ``docs/screenshots`` (the README shows them).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import SecretStr
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from clv_stream.devinfra import EmbeddedBroker, EmbeddedRedis
from clv_stream.sources import synthetic_orders, synthetic_spend, synthetic_subscriptions
from tests.browser.conftest import SCREENSHOTS
from tests.integration.harness import Harness

#: Seconds the page waits between refreshes in these tests (``?refresh=``).
REFRESH_S = 1
WAIT_S = 45


def _events(customers: int, subscribers: int) -> list[dict[str, Any]]:
    shop = list(synthetic_orders(customers, seed=21))
    events = [*shop, *synthetic_spend(shop), *synthetic_subscriptions(subscribers, seed=4)]
    return sorted(events, key=lambda e: datetime.fromisoformat(e["occurred_at"]))


def _api(h: Harness, path: str, token: str | None = None) -> Any:
    status, body = h.get(path, {"Authorization": f"Bearer {token}"} if token else None)
    assert status == 200, (path, status)
    return json.loads(body)


def _until(driver: webdriver.Chrome, condition: Callable[[webdriver.Chrome], Any],
           what: str) -> Any:
    return WebDriverWait(driver, WAIT_S, poll_frequency=0.2).until(condition, f"{what} in {WAIT_S} s")


# The page redraws its figures on every refresh: elements are read in one script call each,
# never found first and read after (a redraw in between leaves a stale element).
def _text(driver: webdriver.Chrome, css: str) -> str:
    return driver.execute_script(  # type: ignore[no-any-return]
        "const e = document.querySelector(arguments[0]); return e ? e.innerText.trim() : '';", css)


def _rows(driver: webdriver.Chrome, css: str, attribute: str) -> list[tuple[str, str]]:
    """(``attribute``, text) of every element ``css`` selects, as one snapshot."""
    rows = driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]),"
        " e => [e.getAttribute(arguments[1]), e.innerText]);", css, attribute)
    return [(a, t) for a, t in rows]


def _number(text: str) -> Decimal:
    """A figure as the page shows it ("$1,234.56", "12.5 %", "3×") as a number."""
    return Decimal(re.sub(r"[^0-9.\-]", "", text))


def _chart(driver: webdriver.Chrome, canvas: str) -> list[list[Any]] | None:
    """The datasets a canvas's Chart.js chart draws now (None: no chart on it)."""
    return driver.execute_script(  # type: ignore[no-any-return]
        "const c = Chart.getChart(document.getElementById(arguments[0]));"
        "return c ? c.data.datasets.map(d => d.data) : null;", canvas)


def _kpi(driver: webdriver.Chrome, key: str) -> str:
    return _text(driver, f'#kpis [data-kpi="{key}"] .value')


def _close_to(shown: str, exact: str) -> bool:
    """The page rounds money for reading (whole units from 1,000): within that rounding."""
    value = Decimal(exact)
    return abs(_number(shown) - value) <= (Decimal("0.5") if abs(value) >= 1000 else Decimal("0.005"))


def _save(driver: webdriver.Chrome, name: str, element: str | None = None) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if element is None:  # the whole page, as tall as it is
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1440, max(900, int(height)))
        driver.save_screenshot(str(SCREENSHOTS / name))
        driver.set_window_size(1440, 900)
    else:
        driver.find_element(By.CSS_SELECTOR, element).screenshot(str(SCREENSHOTS / name))


async def test_the_dashboard_follows_a_live_stream(
        chrome: webdriver.Chrome, kafka_broker: EmbeddedBroker, redis_server: EmbeddedRedis) -> None:
    events = _events(customers=400, subscribers=40)
    half = len(events) // 2
    with Harness.running(kafka_broker, redis_server, report_interval=0.5) as h:
        await h.wait_applied(await h.produce_events(events[:half]))
        chrome.get(f"http://127.0.0.1:{h.settings.web_port}/?refresh={REFRESH_S}&period=P36M")
        _until(chrome, lambda d: _kpi(d, "customers") not in ("", "–"), "the KPIs shown")
        before = _number(_kpi(chrome, "orders"))
        assert before > 0

        # the second half arrives while the page is open: figures and charts follow it
        high = await h.produce_events(events[half:])
        _until(chrome, lambda d: _number(_kpi(d, "orders")) > before, "orders grow on the page")
        _until(chrome, lambda d: max((_chart(d, "throughput-chart") or [[0]])[0] or [0]) > 0,
               "throughput drawn while the stream runs")
        await h.wait_applied(high)

        report = _api(h, "/report?period=P36M")
        kpis = report["kpis"]
        _until(chrome, lambda d: _number(_kpi(d, "orders")) == kpis["orders"],
               "the page's orders reach the report's")
        assert _number(_kpi(chrome, "customers")) == kpis["customers"]
        assert _close_to(_kpi(chrome, "revenue"), kpis["revenue"])
        assert _close_to(_kpi(chrome, "traditional_clv"), kpis["traditional_clv"])

        # charts draw the report's numbers
        distribution = _chart(chrome, "distribution-chart")
        assert distribution is not None
        assert sum(distribution[0]) == sum(report["clv_distribution"]["counts"])
        for dimension, labels in report["segments"].items():
            drawn = _chart(chrome, f"dim-{dimension}-chart")
            assert drawn is not None, dimension
            assert sorted(drawn[0]) == sorted(f["customers"] for label, f in labels.items()
                                              if label != "none")
        channels = {name: text.split() for name, text in _rows(chrome, "#channels tbody tr",
                                                               "data-channel")}
        assert set(channels) == set(report["by_channel"]) == {"web", "app", "store"}
        for name, figures in report["by_channel"].items():
            assert figures["clv_to_cac"] is not None  # spend was sent for every channel
            assert channels[name][-3] == f"{figures['clv_to_cac']:.2f}".rstrip("0").rstrip(".") + "×"
        heat = _rows(chrome, "#cohorts tbody tr", "data-cohort")
        assert [cohort for cohort, _ in heat] == list(report["cohorts"])
        subs = report["subscriptions"]
        assert subs is not None
        assert _close_to(_text(chrome, '#subs-kpis [data-kpi="mrr"] .value'), subs["mrr"])
        mrr = _chart(chrome, "mrr-chart")
        assert mrr is not None
        assert mrr[0][-1] == float(subs["months"][-1]["mrr_end"])

        # the live figures: the worker's own counters, nothing dead-lettered in this stream
        assert _text(chrome, "#deadshare") == "0 %"
        assert _text(chrome, "#lag") == "0"
        feed = _rows(chrome, "#feed li", "data-dimension")
        assert feed, "recent segment changes listed"
        assert {dimension for dimension, _ in feed} <= set(report["segments"])
        _until(chrome, lambda d: len((_chart(d, "throughput-chart") or [[]])[0]) >= 10,
               "ten seconds of live throughput")
        _save(chrome, "dashboard.png")

        # a customer lookup shows that customer's values and the history of its CLV
        orders = Counter(e["customer_id"] for e in events if e["event_type"] == "order_placed")
        regular = orders.most_common(1)[0][0]
        view = _api(h, f"/customers/{regular}")
        history = _api(h, f"/customers/{regular}/history")["history"]
        assert len(history) >= 2
        box = chrome.find_element(By.ID, "customer-id")
        box.clear()
        box.send_keys(regular)
        chrome.find_element(By.CSS_SELECTOR, "#lookup button").click()
        _until(chrome, lambda d: d.find_element(By.ID, "customer").is_displayed(),
               "the customer panel")
        value = view["value"]
        assert _close_to(_text(chrome, '[data-field="total_clv"] td:last-child'), value["total_clv"])
        assert _close_to(_text(chrome, '[data-field="predicted_clv"] td:last-child'),
                         value["predicted_clv"])
        assert _number(_text(chrome, '[data-field="orders"] td:last-child')) == value["orders"]
        assert _text(chrome, '[data-field="acquisition_channel"] td:last-child') == \
            value["acquisition_channel"]
        for dimension, label in view["segments"].items():
            assert _text(chrome, f'[data-segment="{dimension}"] td:last-child') == label.replace("_", " ")
        drawn = _chart(chrome, "history-chart")
        assert drawn is not None
        assert [point["y"] for point in drawn[0]] == [float(p["total_clv"]) for p in history]
        # on a time axis: each point at its own time
        assert [point["x"] for point in drawn[0]] == [
            datetime.fromisoformat(p["as_of"]).timestamp() * 1000 for p in history]
        chrome.execute_script("document.getElementById('lookup-card').scrollIntoView()")
        _save(chrome, "dashboard-customer.png", "#lookup-card")

        chrome.find_element(By.ID, "customer-id").clear()
        chrome.find_element(By.ID, "customer-id").send_keys("nobody-at-all")
        chrome.find_element(By.CSS_SELECTOR, "#lookup button").click()
        _until(chrome, lambda d: "No customer" in _text(d, "#lookup-status"), "an unknown customer said so")
        assert not chrome.find_element(By.ID, "customer").is_displayed()


async def test_with_a_token_the_page_asks_for_it_and_starts_empty(
        chrome: webdriver.Chrome, kafka_broker: EmbeddedBroker, redis_server: EmbeddedRedis) -> None:
    token = "s3cret-dashboard-token"
    with Harness.running(kafka_broker, redis_server, report_interval=0.5,
                         web_token=SecretStr(token)) as h:
        chrome.get(f"http://127.0.0.1:{h.settings.web_port}/?refresh={REFRESH_S}")
        form = _until(chrome, lambda d: d.find_element(By.ID, "auth").is_displayed()
                      and d.find_element(By.ID, "auth"), "the token prompt")
        assert _kpi(chrome, "customers") == ""  # nothing shown without the token
        chrome.find_element(By.ID, "token").send_keys("not-the-token")
        form.find_element(By.TAG_NAME, "button").click()
        _until(chrome, lambda d: "refused" in _text(d, "#auth-reason"), "a refused token said so")
        chrome.find_element(By.ID, "token").send_keys(token)
        form.find_element(By.TAG_NAME, "button").click()
        _until(chrome, lambda d: _kpi(d, "customers") == "0", "the KPIs of an empty shop")

        # an empty shop: every panel says why it is empty instead of drawing nothing
        for empty in ("#distribution-empty", "#cohorts-empty", "#subs-empty", "#feed-empty"):
            assert chrome.find_element(By.CSS_SELECTOR, empty).is_displayed(), empty
        assert _api(h, "/report", token)["kpis"]["customers"] == 0
        # the token stays in the tab: a lookup is sent with it too
        chrome.find_element(By.ID, "customer-id").send_keys("nobody")
        chrome.find_element(By.CSS_SELECTOR, "#lookup button").click()
        _until(chrome, lambda d: "No customer" in _text(d, "#lookup-status"), "a 404, not a 401")
