"""Fixtures for the dashboard's browser tests: headless Debian Chromium driven by Selenium
through its matching chromedriver (``scripts/ensure-chromium.sh`` installs both; ``make
test`` runs it), and the embedded broker and redis-server the integration tests use."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.integration.conftest import kafka_broker, redis_server  # noqa: F401 - session fixtures

_HERE = Path(__file__).resolve().parent

#: Where the tests save the screenshots the README shows (``CLV_SCREENSHOT_DIR`` overrides).
SCREENSHOTS = Path(os.environ.get("CLV_SCREENSHOT_DIR", _HERE.parents[1] / "docs" / "screenshots"))

#: Without the background-networking flags Chromium keeps calling Google's hosts, which a
#: closed network refuses; the rest is what headless Chromium needs as root in a container.
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                  "--force-device-scale-factor=1", "--window-size=1440,900", "--lang=en-US")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.resolve().is_relative_to(_HERE):
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.browser)


def _binary(env: str, *names: str) -> str:
    found = os.environ.get(env) or next(filter(None, map(shutil.which, names)), None)
    if not found:
        pytest.fail(f"no {names[0]}: run scripts/ensure-chromium.sh (make install does), "
                    f"or set {env}")
    return found


@pytest.fixture
def chrome(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """A fresh headless Chromium (its own profile) for one test."""
    options = webdriver.ChromeOptions()
    options.binary_location = _binary("CLV_CHROMIUM_BIN", "chromium", "chromium-browser")
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    service = Service(executable_path=_binary("CLV_CHROMEDRIVER_BIN", "chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()
